import json
from pathlib import Path

import numpy as np
import pytest

from levitor.planning.tracks import (
    Track,
    fill_stay_tracks,
    parse_coord_str,
    parse_tracks,
    resample_track,
    resample_tracks,
    shift_tracks,
    stay_track,
    tracks_to_json,
    validate_tracks,
)


def test_versioned_json_round_trip_and_scaling():
    tracks = [[(10, 20, 0.5), (30.5, 40, 0.25)], [(1, 2, 1.0)]]
    for indent in (False, True):
        text = tracks_to_json(tracks, image_size=(100, 200), names=["a", None], indent=indent)
        obj = json.loads(text)
        assert obj["format"] == "levitor-tracks" and obj["version"] == 1 and obj["image_size"] == [100, 200]
        assert obj["tracks"][0]["name"] == "a" and "name" not in obj["tracks"][1]
        assert parse_tracks(text) == [[(10.0, 20.0, 0.5), (30.5, 40.0, 0.25)], [(1.0, 2.0, 1.0)]]
    # Drawn on 100×200, planned on 50×400: x halves, y doubles, depth unchanged.
    assert parse_tracks(text, image_size=(50, 400))[0][1] == (15.25, 80.0, 0.25)


def test_bare_list_and_point_objects():
    assert parse_tracks([[[1, 2, 0.5]]]) == [[(1.0, 2.0, 0.5)]]
    assert parse_tracks('{"tracks": [{"points": [{"x": 3, "y": 4, "depth": 0.2}]}]}') == [[(3.0, 4.0, 0.2)]]


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("", "empty"),
    ('{"format": "other", "tracks": []}', "format"),
    ('{"format": "levitor-tracks", "version": 9, "tracks": []}', "version 9"),
    ('{"version": 1}', "missing the 'tracks'"),
    ("[[[1, 2]]]", r"track 0 point 0.*\[x, y, depth\]"),
    ("[[]]", "track 0 has no points"),
    ('[[[1, "a", 0.5]]]', "must be a number"),
    ('[[[1, 2, null]]]', "no depth"),
    ("[[[1, 2, NaN]]]", "finite"),
])
def test_malformed_tracks_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        parse_tracks(text)


def fritsch_carlson(y, t_new, t=None):
    """Monotone piecewise cubic Hermite interpolation of ``y`` over the knots ``t`` (default
    ``linspace(0, 1, len(y))``) (Fritsch and Carlson): interior slopes are the weighted harmonic
    mean of the neighbouring secants (0 at a local extremum), end slopes the one-sided three-point
    formula made shape-preserving."""
    y = np.asarray(y, dtype=np.float64)
    t = np.linspace(0, 1, len(y)) if t is None else np.asarray(t, dtype=np.float64)
    h = np.diff(t)
    delta = np.diff(y) / h
    d = np.zeros_like(y)
    for k in range(1, len(y) - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])

    def end(h0, h1, d0, d1):
        s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(s) != np.sign(d0):
            return 0.0
        if np.sign(d0) != np.sign(d1) and abs(s) > 3 * abs(d0):
            return 3 * d0
        return s

    d[0] = end(h[0], h[1], delta[0], delta[1])
    d[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    out = []
    for x in t_new:
        k = min(int(np.searchsorted(t, x, side="right")) - 1, len(y) - 2)
        s = (x - t[k]) / h[k]
        out.append((2 * s**3 - 3 * s**2 + 1) * y[k] + (s**3 - 2 * s**2 + s) * h[k] * d[k]
                   + (-2 * s**3 + 3 * s**2) * y[k + 1] + (s**3 - s**2) * h[k] * d[k + 1])
    return np.array(out)


def test_resample_endpoints_linear_and_pchip():
    pts = [(0, 0, 0.5), (10, 40, 0.25), (30, 20, 0.75)]
    # By hand for y = 0, 40, 20 at t = 0, 0.5, 1: secants 80 and -40; slope 0 at the peak; end
    # slopes (1.5 * 80 + 0.5 * 40) = 140 and (1.5 * -40 - 0.5 * 80) = -100. At t = 0.25 the Hermite
    # basis is (0.5, 0.125, 0.5, -0.125): 0.125 * 0.5 * 140 + 0.5 * 40 = 28.75; at t = 0.75:
    # 0.5 * 40 + 0.5 * 20 + 0.125 * 0.5 * 100 = 36.25.
    np.testing.assert_allclose(resample_track(pts, 5)[:, 1], [0, 28.75, 40, 36.25, 20], rtol=0, atol=1e-12)
    r = resample_track(pts, 16)
    assert r.shape == (16, 3) and r.dtype == np.float64
    np.testing.assert_array_equal(r[0], pts[0])
    np.testing.assert_array_equal(r[-1], pts[-1])
    for c in range(3):
        np.testing.assert_allclose(r[:, c], fritsch_carlson([p[c] for p in pts], np.linspace(0, 1, 16)),
                                   rtol=0, atol=1e-9)
    # Monotone cubic: no overshoot beyond the clicked values.
    assert r[:, 1].max() <= 40 + 1e-12 and r[:, 2].min() >= 0.25 - 1e-12
    two = resample_track([(0, 0, 0.1), (15, 30, 0.4)], 16)
    np.testing.assert_allclose(two[:, 0], np.linspace(0, 15, 16))
    np.testing.assert_allclose(two[:, 2], np.linspace(0.1, 0.4, 16))


def test_resample_matches_fritsch_carlson_on_random_tracks():
    rng = np.random.default_rng(3)
    for n_points in (3, 4, 7):
        pts = np.column_stack([rng.uniform(0, 500, n_points), rng.uniform(0, 300, n_points),
                               rng.uniform(0.01, 1.0, n_points)])
        pts[1] = pts[2]  # a flat segment (zero secant)
        r = resample_track(pts.tolist(), 25)
        for c in range(3):
            np.testing.assert_allclose(r[:, c], fritsch_carlson(pts[:, c], np.linspace(0, 1, 25)),
                                       rtol=0, atol=1e-9)


def test_single_click_stays_in_place():
    r = resample_track([(5, 6, 0.3)], 8)
    assert r.shape == (8, 3) and np.all(r == [5, 6, 0.3])
    assert resample_tracks([], 4).shape == (0, 4, 3)
    assert resample_tracks([[(1, 1, 1)], [(0, 0, 0.5), (2, 2, 0.5)]], 5).shape == (2, 5, 3)


def test_stay_track_is_the_centroid_at_the_median_depth():
    mask = np.zeros((6, 8), dtype=bool)
    mask[1:3, 2:6] = True  # rows 1-2, columns 2-5: centroid x 3.5, y 1.5
    depth = np.full((6, 8), 1.0)
    depth[1, 2:6] = [0.1, 0.2, 0.3, 0.4]
    depth[2, 2:6] = [0.5, 0.6, 0.7, 0.9]  # median of the eight values: (0.4 + 0.5) / 2
    assert stay_track(mask, depth) == [(3.5, 1.5, 0.45)]
    assert stay_track(np.zeros((6, 8), dtype=bool), depth) == [(4.0, 3.0, 1.0)]  # centre, far


def test_coord_str_with_depths():
    one = '[{"x": 0, "y": 0}, {"x": 10, "y": 0}, {"x": 20, "y": 0}]'
    assert parse_coord_str(one, [0.1, 0.2, 0.3]) == [[(0.0, 0.0, 0.1), (10.0, 0.0, 0.2), (20.0, 0.0, 0.3)]]
    assert [p[2] for p in parse_coord_str(one, 0.4)[0]] == [0.4] * 3
    # A per-frame depth list of another length is resampled along the spline.
    assert [round(p[2], 6) for p in parse_coord_str(one, [0.1, 0.5])[0]] == [0.1, 0.3, 0.5]
    two = json.dumps([[{"x": 0, "y": 0}, {"x": 1, "y": 1}], [{"x": 5, "y": 5}]])
    t = parse_coord_str(two, [0.2, 0.6])
    assert t == [[(0.0, 0.0, 0.2), (1.0, 1.0, 0.2)], [(5.0, 5.0, 0.6)]]
    assert parse_coord_str(two, "[[0.1, 0.2], [0.3]]")[1] == [(5.0, 5.0, 0.3)]
    with pytest.raises(ValueError, match="depths are required"):
        parse_coord_str(one, None)
    with pytest.raises(ValueError, match="3 values for 2 splines"):
        parse_coord_str(two, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"\{'x'"):
        parse_coord_str("[[1, 2]]", 0.5)


def test_validate_tracks_depth_range_and_far_points():
    validate_tracks([[(0, 0, 1.0), (-40, 130, 0.01)]], 100, 100)  # off-image is allowed
    with pytest.raises(ValueError, match=r"depth 0.*\[0.0001, 1\]"):
        validate_tracks([[(0, 0, 0.0)]], 100, 100)
    with pytest.raises(ValueError, match="depth 1.5"):
        validate_tracks([[(0, 0, 1.5)]], 100, 100)
    with pytest.raises(ValueError, match="far outside"):
        validate_tracks([[(0, 0, 0.5), (500, 0, 0.5)]], 100, 100)


# --- timing: keyframes and easing ---------------------------------------------------------------

EASE = {"linear": lambda s: s, "ease-in": lambda s: s * s, "ease-out": lambda s: 1 - (1 - s) ** 2,
        "ease-in-out": lambda s: 2 * s * s if s < 0.5 else 1 - 2 * (1 - s) ** 2}


def _random_track(rng, n):
    return np.column_stack([rng.uniform(0, 500, n), rng.uniform(0, 300, n), rng.uniform(0.01, 1.0, n)])


def test_timing_free_tracks_resample_exactly_as_before():
    """Old tracks files: the reference's three PCHIPs over linspace(0, 1, n), bit for bit."""
    from scipy.interpolate import PchipInterpolator

    rng = np.random.default_rng(5)
    for n, frames in ((2, 16), (3, 14), (6, 25), (9, 81)):
        pts = _random_track(rng, n)
        before = np.stack([PchipInterpolator(np.linspace(0, 1, n), pts[:, c])(np.linspace(0, 1, frames))
                           for c in range(3)], axis=1)
        text = json.dumps({"format": "levitor-tracks", "version": 1, "tracks": [{"points": pts.tolist()}]})
        for track in (pts.tolist(), parse_tracks(text)[0], Track(pts, frames=[None] * n, easing="linear")):
            np.testing.assert_array_equal(resample_track(track, frames), before)
        np.testing.assert_array_equal(resample_tracks(parse_tracks(text), frames)[0], before)
        # Keying the ends where they already are changes nothing but the spline's scale.
        keyed = Track(pts, frames=[0] + [None] * (n - 2) + [frames - 1])
        np.testing.assert_allclose(resample_track(keyed, frames), before, rtol=0, atol=1e-9)


def test_a_keyframed_point_is_at_its_frame_and_the_spline_runs_through_the_keyframes():
    rng = np.random.default_rng(11)
    num_frames = 33
    for frames in ([None, 4, None, 20, None], [3, None, None, 9, 30], [None, None, 31, None, None]):
        pts = _random_track(rng, len(frames))
        out = resample_track(Track(pts, frames=frames), num_frames)
        # Knots worked out here: keyed points at their frame, ends at 0 and the last frame,
        # unkeyed points evenly between their keyed neighbours.
        keyed = {i: f for i, f in enumerate(frames) if f is not None}
        keyed.setdefault(0, 0)
        keyed.setdefault(len(frames) - 1, num_frames - 1)
        ki = sorted(keyed)
        knots = np.interp(np.arange(len(frames)), ki, [keyed[i] for i in ki])
        for i in ki:
            assert out[keyed[i]].tolist() == pts[i].tolist()  # exactly
        q = np.clip(np.arange(num_frames), knots[0], knots[-1])  # holds before the first key, after the last
        for c in range(3):
            np.testing.assert_allclose(out[:, c], fritsch_carlson(pts[:, c], q, knots), rtol=0, atol=1e-9)
        assert (out[:keyed[0] + 1] == pts[0]).all() and (out[keyed[len(frames) - 1]:] == pts[-1]).all()


@pytest.mark.parametrize("easing", list(EASE))
def test_easing_curves_match_their_closed_form(easing):
    a, b = np.array([10.0, 200.0, 0.9]), np.array([250.0, 20.0, 0.05])
    num_frames = 21
    out = resample_track(Track([a, b], easing=easing), num_frames)
    expect = [a + (b - a) * EASE[easing](f / (num_frames - 1)) for f in range(num_frames)]
    np.testing.assert_allclose(out, expect, rtol=0, atol=1e-9)
    # Between keyframes 5 and 15 the same curve runs over those frames; the object holds outside.
    keyed = resample_track(Track([a, b], frames=[5, 15], easing=easing), num_frames)
    expect = [a + (b - a) * EASE[easing](min(max((f - 5) / 10, 0), 1)) for f in range(num_frames)]
    np.testing.assert_allclose(keyed, expect, rtol=0, atol=1e-9)


def test_easing_is_a_time_remap_of_each_keyed_span():
    rng = np.random.default_rng(2)
    pts = _random_track(rng, 4)
    frames, num_frames = [None, 6, None, None], 17
    out = resample_track(Track(pts, frames=frames, easing="ease-in-out"), num_frames)
    knots = np.array([0, 6, 11, 16], dtype=float)  # point 2 evenly between the keys 6 and 16
    u = []
    for f in range(num_frames):
        k0, k1 = (0, 6) if f < 6 else (6, 16)
        u.append(k0 + EASE["ease-in-out"]((f - k0) / (k1 - k0)) * (k1 - k0))
    for c in range(3):
        np.testing.assert_allclose(out[:, c], fritsch_carlson(pts[:, c], u, knots), rtol=0, atol=1e-9)


def test_timing_errors_name_the_point():
    with pytest.raises(ValueError, match=r"track point 1 has frame 16 but the plan has 16 frames \(0 to 15\)"):
        resample_track(Track([(0, 0, 1), (1, 1, 1)], frames=[None, 16]), 16)
    with pytest.raises(ValueError, match="tracks: track 1 point 2 is reached at frame 15, not after point 1"):
        resample_tracks([[(0, 0, 1)], Track([(0, 0, 1), (1, 1, 1), (2, 2, 1)], frames=[None, 15, None])], 16)
    with pytest.raises(ValueError, match="easing must be one of"):
        Track([(0, 0, 1)], easing="bounce")


def test_timing_survives_json_scaling_and_the_writer():
    track = Track([(10, 20, 0.5), (30, 40, 0.25), (50, 60, 0.125)], frames=[None, 7, None], easing="ease-out",
                  name="ball")
    text = tracks_to_json([track], image_size=(100, 200), indent=True)
    obj = json.loads(text)
    assert obj["version"] == 2 and obj["tracks"][0] == {"name": "ball", "easing": "ease-out",
                                                         "points": [[10, 20, 0.5], [30, 40, 0.25, 7], [50, 60, 0.125]]}
    back = parse_tracks(text, image_size=(50, 400))[0]
    assert back == [(5.0, 40.0, 0.5), (15.0, 80.0, 0.25), (25.0, 120.0, 0.125)]
    assert (back.frames, back.easing, back.name) == ((None, 7, None), "ease-out", "ball")
    shifted = shift_tracks([back], -5, 10)[0]  # a crop
    assert shifted == [(0.0, 50.0, 0.5), (10.0, 90.0, 0.25), (20.0, 130.0, 0.125)]
    assert (shifted.frames, shifted.easing, shifted.name) == ((None, 7, None), "ease-out", "ball")
    # A Track given as a Python object keeps its timing through the parser (the node path).
    again = parse_tracks([back])[0]
    assert (again.frames, again.easing) == ((None, 7, None), "ease-out")
    assert json.loads(tracks_to_json([[(1, 2, 0.5)]]))["version"] == 1  # no timing: the version-1 text


# ../shared next to the checkout (or next to the folder of worktrees it sits in).
REFERENCE_PLAN = next((p / "shared" / "fixtures" / "reference" / "plan" for p in Path(__file__).resolve().parents[2:4]
                       if (p / "shared" / "fixtures" / "reference" / "plan").is_dir()), Path("absent"))


@pytest.mark.skipif(not (REFERENCE_PLAN / "occlusion_behind.json").is_file(),
                    reason="the original implementation's planning case (../shared/fixtures/reference/plan) is absent")
def test_an_old_tracks_text_resamples_as_the_original_implementation():
    """The original LeviTor's per-frame track (out.trajectories), bit for bit, from a version-1 text."""
    from safetensors.numpy import load_file

    meta = json.loads((REFERENCE_PLAN / "occlusion_behind.json").read_text())
    inputs = meta["inputs"]
    tracks = [[[x, y, d] for (x, y), d in zip(xy, ds)] for xy, ds in zip(inputs["tracks_xy"], inputs["track_depths"])]
    text = json.dumps({"format": "levitor-tracks", "version": 1, "tracks": [{"points": t} for t in tracks]})
    expected = load_file(str(REFERENCE_PLAN / "occlusion_behind.safetensors"))["out.trajectories"]
    np.testing.assert_array_equal(resample_tracks(parse_tracks(text), meta["frames"]), expected)


def test_fill_stay_tracks_fills_missing_and_empty_tracks_only():
    depth = np.full((6, 8), 0.5)
    a = np.zeros((6, 8), dtype=bool)
    a[1:3, 2:4] = True
    b = np.zeros((6, 8), dtype=bool)
    b[4:6, 6:8] = True
    drawn = [(1.0, 1.0, 0.2), (2.0, 2.0, 0.3)]
    camera = [(0.0, 0.0, 1.0), (1.0, 0.0, 1.0)]
    assert fill_stay_tracks([], [a, b], depth) == ([[(2.5, 1.5, 0.5)], [(6.5, 4.5, 0.5)]], [0, 1])
    assert fill_stay_tracks([drawn], [a, b], depth) == ([drawn, [(6.5, 4.5, 0.5)]], [1])
    assert fill_stay_tracks([[], drawn, camera], [a, b], depth) == ([[(2.5, 1.5, 0.5)], drawn, camera], [0])
