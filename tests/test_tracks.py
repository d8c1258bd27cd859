import json

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from levitor.planning.tracks import (parse_coord_str, parse_tracks, resample_track, resample_tracks, tracks_to_json,
                            validate_tracks)


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


def test_resample_endpoints_linear_and_pchip():
    pts = [(0, 0, 0.5), (10, 40, 0.25), (30, 20, 0.75)]
    r = resample_track(pts, 16)
    assert r.shape == (16, 3) and r.dtype == np.float64
    np.testing.assert_array_equal(r[0], pts[0])
    np.testing.assert_array_equal(r[-1], pts[-1])
    t = np.linspace(0, 1, 3)
    np.testing.assert_allclose(r[:, 1], PchipInterpolator(t, [0, 40, 20])(np.linspace(0, 1, 16)))
    # Monotone cubic: no overshoot beyond the clicked values.
    assert r[:, 1].max() <= 40 + 1e-12 and r[:, 2].min() >= 0.25 - 1e-12
    two = resample_track([(0, 0, 0.1), (15, 30, 0.4)], 16)
    np.testing.assert_allclose(two[:, 0], np.linspace(0, 15, 16))
    np.testing.assert_allclose(two[:, 2], np.linspace(0.1, 0.4, 16))


def test_single_click_stays_in_place():
    r = resample_track([(5, 6, 0.3)], 8)
    assert r.shape == (8, 3) and np.all(r == [5, 6, 0.3])
    assert resample_tracks([], 4).shape == (0, 4, 3)
    assert resample_tracks([[(1, 1, 1)], [(0, 0, 0.5), (2, 2, 0.5)]], 5).shape == (2, 5, 3)


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
