"""Every problem found by fuzzing the readers and the planner is a ValueError naming the input."""

import json

import numpy as np
import pytest

from conftest import disc
from levitor.io.jsontext import decode_json
from levitor.limits import MAX_JSON_BYTES
from levitor.perception.segmentation import parse_points
from levitor.planning.keypoints import select_keypoints
from levitor.planning.plan import build_plan
from levitor.planning.tracks import parse_coord_str, parse_tracks


@pytest.mark.parametrize("text, message", [
    ('[[{"x":1,"y":1}], 5]', r"coord_str: spline 1 must be a list of \{'x': \.\., 'y': \.\.\} points, got 5"),
    ('[[{"x":1,"y":"a"}]]', r"coord_str spline 0 point 0 y must be a number, got 'a'"),
    ('[{"x":1e999,"y":1}]', r"coord_str spline 0 point 0 x must be a finite number"),
    ('[{"x":' + "9" * 309 + ',"y":1}]', r"coord_str spline 0 point 0 x is too large \(309 digits\)"),
    ('[{"x":' + "9" * 5000 + ',"y":1}]', r"coord_str is not valid JSON: Exceeds the limit"),
    ("[" * 100000 + "]" * 100000, r"coord_str nests lists/objects deeper than 32 levels"),
    ("[" * 40 + "]" * 40, r"coord_str nests lists/objects deeper than 32 levels"),
])
def test_coord_str_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_coord_str(text, 0.5)


@pytest.mark.parametrize("doc, message", [
    ({"image_size": [0.5, 0.5], "tracks": [[[1, 1, 0.5]]]}, r"tracks image_size width must be in \[2, 8192\]"),
    ({"image_size": [1e-320, 5], "tracks": [[[1, 1, 0.5]]]}, r"tracks image_size width must be in"),
    ({"image_size": [10 ** 400, 5], "tracks": [[[1, 1, 0.5]]]}, r"tracks image_size width must be in"),
    ({"image_size": [512, 288], "tracks": [[[1, 1, 0.5]]]},
     r"tracks image_size is \[512, 288\] but the image is 288x512 \(width x height\): the axes look swapped"),
    ({"tracks": [[[1, 1, 0.5]]] * 65}, r"tracks: 65 tracks, above the 64 a plan allows"),
    ({"tracks": [[[1, 1, 0.5]] * 4097]}, r"tracks: track 0 has 4097 points, above the 4096 allowed"),
    ({"tracks": [[[1, 1, 2 ** 1100]]]}, r"tracks: track 0 point 0 depth is too large"),
    ({"version": True, "tracks": []}, r"tracks: version True is not supported"),
])
def test_tracks_errors(doc, message):
    with pytest.raises(ValueError, match=message):
        parse_tracks(json.dumps(doc), image_size=(288, 512))


@pytest.mark.parametrize("size, message", [
    ((float("inf"), 48), r"tracks: the planning image_size width must be a finite number"),  # was accepted
    ((64, float("nan")), r"tracks: the planning image_size height must be a finite number"),
    ((0, 48), r"tracks: the planning image_size width must be in \[2, 8192\]"),
    ((64,), r"tracks: the planning image_size must be \[width, height\]"),
    ("64x48", r"tracks: the planning image_size must be \[width, height\]"),
])
def test_the_planning_image_size_is_checked_too(size, message):
    doc = {"image_size": [32, 24], "tracks": [[[1, 1, 0.5]]]}
    with pytest.raises(ValueError, match=message):
        parse_tracks(doc, image_size=size)
    assert parse_tracks(doc, image_size=(64.0, 48)) == [[(2.0, 2.0, 0.5)]]


def test_swapped_axes_of_another_size_and_a_square_image():
    with pytest.raises(ValueError, match="axes look swapped"):
        parse_tracks({"image_size": [1024, 576], "tracks": [[[1, 1, 0.5]]]}, image_size=(288, 512))
    # The same aspect at another size rescales; a square image cannot be swapped.
    assert parse_tracks({"image_size": [576, 1024], "tracks": [[[10, 20, 0.5]]]}, image_size=(288, 512)) \
        == [[(5.0, 10.0, 0.5)]]
    assert parse_tracks({"image_size": [64, 64], "tracks": [[[10, 20, 0.5]]]}, image_size=(32, 32)) \
        == [[(5.0, 10.0, 0.5)]]


def test_text_size_limit_and_bad_utf8():
    big = b"[" + b"1," * (MAX_JSON_BYTES // 2) + b"1]"
    with pytest.raises(ValueError, match=r"points is \d+ bytes, above the 2097152 allowed"):
        decode_json(big, "points")
    with pytest.raises(ValueError, match="tracks is not UTF-8 text"):
        parse_tracks(b'[[[1, 1, "\xff"]]]')


@pytest.mark.parametrize("text, message", [
    ('{"image_size": [0.5, 0.5], "points": [{"x": 1, "y": 1}]}', r"points image_size width must be in \[2, 8192\]"),
    ('[{"x": 1e300, "y": 1}]', r"points point 0 has x 1e\+300; a coordinate must be in \[-1000000, 1000000\]"),
    ('[{"x": ' + "1" * 400 + ', "y": 1}]', r"points point 0 x is too large"),
    ("[" * 50 + "]" * 50, "deeper than 32 levels"),
])
def test_points_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_points(text)


def _plan(**kwargs):
    args = dict(image=np.zeros((32, 32, 3), np.uint8), depth=np.full((32, 32), 0.5),
                object_masks=[disc((32, 32), 16, 16, 4)], static_masks=[], tracks=[[(16, 16, 0.4)]])
    args.update(kwargs)
    return build_plan(**args)


@pytest.mark.parametrize("kwargs, message", [
    (dict(tracks=[[(16, 16, 1e-20)]]), r"track 0 point 0 has depth 1e-20; a depth must be in \[0.0001, 1\] "
                                       r"\(reference depth: smaller = nearer, 1 = far\)"),
    (dict(tracks=[[(16, 16, 1e-46)]]), r"has depth 1e-46"),
    (dict(tracks=[[(16, 16, 10 ** 309)]]), r"depth is too large"),
    (dict(depth=np.full((32, 32), 1e-30)), r"depth values must lie in \(0, 1\], at least 0.0001"),
    (dict(ratio=3e307), r"ratio must be in \[0.01, 10\]"),
    (dict(ratio=0.001), r"ratio must be in \[0.01, 10\]"),
    (dict(base_radius=100.0), r"base_radius must be in \[0.001, 0.2\]"),
    (dict(base_radius=-1.0), r"base_radius must be in \[0.001, 0.2\]"),
    (dict(radius=2.5), r"radius must be an integer in \[1, 64\]"),
    (dict(points_per_pixel=-3), r"points_per_pixel must be in \[1, 64\]"),
    (dict(num_frames=129), r"num_frames must be in \[1, 128\]"),
    (dict(num_frames=10 ** 309), r"num_frames must be in \[1, 128\]"),
    (dict(tracks=[[(16, 16)]]), r"tracks: track 0 point 0: a point must be \[x, y, depth\] or \[x, y, depth, frame\], got \[16, 16\]"),
    (dict(tracks=[["ab"]]), r"a point must be \[x, y, depth\] or \[x, y, depth, frame\], got 'ab'"),
    (dict(tracks=5), r"tracks must be a tracks object or a list of tracks, got 5"),
])
def test_plan_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _plan(**kwargs)


def test_image_too_large_is_refused_before_the_label_map():
    with pytest.raises(ValueError, match=r"image is 4000x3000 = 12000000 pixels, above the 4194304 a plan allows"):
        _plan(image=np.zeros((3000, 4000, 3), np.uint8), depth=np.full((3000, 4000), 0.5),
              object_masks=[np.zeros((3000, 4000), bool)])


def test_keypoint_depth_codes_and_ratio_never_overflow():
    labels = np.zeros((1, 20, 20), np.int32)
    labels[0, 5:15, 5:15] = 1
    depths = np.full((1, 20, 20), 1e-300)
    kps = select_keypoints(labels, depths, 1)
    assert kps[0][:, 3].max() == 10 ** 12  # depth codes clip at 1e12 (the control maps clip them at 255)
    with pytest.raises(ValueError, match="depths must be finite and positive"):
        select_keypoints(labels, np.zeros((1, 20, 20)), 1)
    with pytest.raises(ValueError, match=r"ratio must be in \[0.01, 10\]"):
        select_keypoints(labels, np.ones((1, 20, 20)), 1, ratio=3e307)
