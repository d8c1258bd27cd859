import json

import numpy as np
import pytest

from levitor.planning.tracks import (
    fill_stay_tracks,
    parse_coord_str,
    parse_tracks,
    resample_track,
    resample_tracks,
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


def fritsch_carlson(y, t_new):
    """Monotone piecewise cubic Hermite interpolation of ``y`` over ``linspace(0, 1, len(y))``
    (Fritsch and Carlson): interior slopes are the weighted harmonic mean of the neighbouring
    secants (0 at a local extremum), end slopes the one-sided three-point formula made
    shape-preserving."""
    y = np.asarray(y, dtype=np.float64)
    t = np.linspace(0, 1, len(y))
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
    with pytest.raises(ValueError, match=r"depth 0.*\(0, 1\]"):
        validate_tracks([[(0, 0, 0.0)]], 100, 100)
    with pytest.raises(ValueError, match="depth 1.5"):
        validate_tracks([[(0, 0, 1.5)]], 100, 100)
    with pytest.raises(ValueError, match="far outside"):
        validate_tracks([[(0, 0, 0.5), (500, 0, 0.5)]], 100, 100)


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
