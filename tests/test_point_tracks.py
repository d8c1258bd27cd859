"""Point tracks of a plan, against positions and visibility worked out in the test."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import levitor
from levitor import limits
from levitor.planning.point_tracks import output_mapping, point_tracks, sample_points

H, W = 48, 128


def pillar_scene():
    """A ball (8x8 box, depth 0.6) left of a nearer full-height pillar (columns 60..69, depth 0.3,
    a static segment) on a far background."""
    image = np.full((H, W, 3), 100, dtype=np.uint8)
    depth = np.ones((H, W))
    ball = np.zeros((H, W), bool)
    ball[20:28, 10:18] = True
    pillar = np.zeros((H, W), bool)
    pillar[:, 60:70] = True
    depth[ball], depth[pillar] = 0.6, 0.3
    return image, depth, ball, pillar


def test_a_ball_behind_a_pillar_is_hidden_exactly_while_over_it():
    image, depth, ball, pillar = pillar_scene()
    frames = 21
    # 100.5 px to the right over 20 frames: 5.025 px a frame, never on a pixel edge after frame 0
    track = [[14, 24, 0.6], [114.5, 24, 0.6]]
    res = point_tracks(image, depth, [ball], [pillar], [track], frames, points_per_object=16, static_points=0)
    assert res.paths.shape == (frames, 16, 2) and res.paths.dtype == np.float32
    assert res.visibility.shape == (frames, 16) and res.visibility.dtype == bool
    assert res.objects.tolist() == [1] * 16
    start = res.paths[0].astype(np.float64)
    assert ball[start[:, 1].astype(int), start[:, 0].astype(int)].all()  # sampled on the ball's pixels
    assert np.array_equal(start, np.floor(start))  # a pixel's point sits at (column, row)
    for t in range(frames):
        dx = Fraction(201, 2) * t / 20
        assert np.allclose(res.paths[t, :, 0], start[:, 0] + float(dx), atol=1e-4)
        assert np.allclose(res.paths[t, :, 1], start[:, 1], atol=1e-4)
        col = start[:, 0].astype(int) + int(np.floor(dx))  # the pixel each point is over
        expected = ~((col >= 60) & (col <= 69)) & (col < W)
        assert res.visibility[t].tolist() == expected.tolist(), t
    assert res.visibility[0].all() and not res.visibility.all() and res.visibility[-1].any()


def test_twice_nearer_about_the_centre_doubles_the_spread():
    image = np.full((H, W, 3), 90, dtype=np.uint8)
    depth = np.ones((H, W))
    obj = np.zeros((H, W), bool)
    obj[18:30, 54:74] = True  # centred on the image centre (64, 24)
    depth[obj] = 0.5
    res = point_tracks(image, depth, [obj], [], [[[64, 24, 0.5], [64, 24, 0.25]]], 9, points_per_object=12,
                       static_points=0)
    centre = np.array([W / 2, H / 2])
    first, last = res.paths[0] - centre, res.paths[-1] - centre
    assert np.allclose(last, 2 * first, atol=1e-4)
    assert np.isclose(np.linalg.norm(last - last.mean(0), axis=1).mean(),
                      2 * np.linalg.norm(first - first.mean(0), axis=1).mean(), rtol=1e-5)
    assert res.visibility.all()  # nothing hides it and it stays in the frame


def test_a_camera_move_shifts_the_anchors_by_the_camera_track():
    image = np.full((H, W, 3), 90, dtype=np.uint8)
    depth = np.ones((H, W))
    obj = np.zeros((H, W), bool)
    obj[4:10, 4:10] = True
    depth[obj] = 0.5
    frames = 11
    camera = [[64, 24, 1.0], [84, 30, 1.0]]  # 20 px right and 6 down over the shot
    res = point_tracks(image, depth, [obj], [], [[[7, 7, 0.5]]], frames, camera_track=camera,
                       points_per_object=4, static_points=10)
    anchors = res.objects == 0
    assert anchors.sum() == 10 and (res.objects[~anchors] == 1).all()
    start = res.paths[0, anchors].astype(np.float64)
    bg = ~obj
    assert bg[start[:, 1].astype(int), start[:, 0].astype(int)].all()
    for t in range(frames):
        shift = np.array([20.0, 6.0]) * t / (frames - 1)
        assert np.allclose(res.paths[t, anchors], start + shift, atol=1e-4)
        inside = ((start + shift) >= 0).all(1) & ((start + shift) < [W, H]).all(1)
        assert res.visibility[t, anchors].tolist() == inside.tolist()
    # the object itself stays (a one-point track)
    assert np.allclose(res.paths[:, ~anchors], res.paths[:1, ~anchors])


def test_anchors_without_a_camera_move_stay_and_hide_behind_moving_objects():
    image, depth, ball, pillar = pillar_scene()
    res = point_tracks(image, depth, [ball], [pillar], [[[14, 24, 0.6], [114.5, 24, 0.6]]], 21,
                       points_per_object=4, static_points=40)
    anchors = res.objects == 0
    assert np.allclose(res.paths[:, anchors], res.paths[:1, anchors])
    start = res.paths[0, anchors].astype(int)
    assert not ball[start[:, 1], start[:, 0]].any()
    # anchors far from the ball's band of rows are never covered
    far = (start[:, 1] < 14) | (start[:, 1] > 33)
    assert far.any() and res.visibility[:, anchors][:, far].all()


def test_output_size_scales_and_crops_like_the_start_image_resize():
    image, depth, ball, pillar = pillar_scene()
    args = (image, depth, [ball], [pillar], [[[14, 24, 0.6], [114.5, 24, 0.6]]], 11)
    plain = point_tracks(*args, points_per_object=8, static_points=4)
    double = point_tracks(*args, points_per_object=8, static_points=4, output_size=(2 * W, 2 * H))
    assert double.size == (2 * W, 2 * H)
    assert np.allclose(double.paths, 2 * plain.paths, atol=1e-4)
    assert np.array_equal(double.visibility, plain.visibility)
    # a square video of the 128x48 image: ComfyUI crops the middle 48x48 (columns 40..87), scale 2
    square = point_tracks(*args, points_per_object=8, static_points=4, output_size=(96, 96))
    assert np.allclose(square.paths, (plain.paths - [40, 0]) * 2, atol=1e-4)
    inside = (plain.paths[..., 0] >= 40) & (plain.paths[..., 0] < 88)
    assert np.array_equal(square.visibility, plain.visibility & inside)


def test_the_mapping_matches_the_centre_crop_arithmetic():
    assert output_mapping(128, 48, None) == (0.0, 0.0, 1.0, 1.0)
    assert output_mapping(100, 100, (832, 480)) == (0.0, 21.0, 8.32, 480 / 58)  # round(42.3 / 2)
    with pytest.raises(ValueError, match="output width"):
        output_mapping(100, 100, (0, 480))


def test_wan_lengths_are_allowed_and_the_bounds_hold():
    image, depth, ball, pillar = pillar_scene()
    track = [[[14, 24, 0.6], [40, 24, 0.6]]]
    res = point_tracks(image, depth, [ball], [pillar], track, 121, points_per_object=2, static_points=0,
                       occlusion=False)
    assert res.paths.shape == (121, 2, 2) and res.visibility.all()
    with pytest.raises(ValueError, match="num_frames"):
        point_tracks(image, depth, [ball], [pillar], track, limits.NUM_FRAMES.hi + 1, occlusion=False)
    with pytest.raises(ValueError, match="points_per_object"):
        point_tracks(image, depth, [ball], [pillar], track, 9, points_per_object=0)
    with pytest.raises(ValueError, match="point tracks, above"):
        point_tracks(image, depth, [ball] * 5, [], track * 5, 9, points_per_object=1024)
    with pytest.raises(ValueError, match="tracks"):
        point_tracks(image, depth, [ball], [pillar], [], 9)


def test_without_occlusion_only_the_frame_limits_visibility():
    image, depth, ball, pillar = pillar_scene()
    args = (image, depth, [ball], [pillar], [[[14, 24, 0.6], [114.5, 24, 0.6]]], 21)
    full = point_tracks(*args, points_per_object=16, static_points=0)
    bare = point_tracks(*args, points_per_object=16, static_points=0, occlusion=False)
    assert np.array_equal(full.paths, bare.paths)
    assert np.array_equal(bare.visibility, bare.paths[..., 0] < W)


def test_sampling_is_deterministic_spread_and_inside():
    mask = np.zeros((40, 60), bool)
    mask[5:35, 10:50] = True
    pts = sample_points(mask, 9)
    assert np.array_equal(pts, sample_points(mask.copy(), 9))
    assert mask[pts[:, 1], pts[:, 0]].all() and len({tuple(p) for p in pts.tolist()}) == 9
    gaps = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(9) * 1e9
    assert gaps.min() >= 6  # 9 points over a 40x30 box keep apart (9 random pixels rarely do)
    # away from the edges: none on the region's border
    assert ((pts[:, 0] > 10) & (pts[:, 0] < 49) & (pts[:, 1] > 5) & (pts[:, 1] < 34)).all()
    small = np.zeros((10, 10), bool)
    small[2, 3] = small[7, 8] = True
    assert sorted(map(tuple, sample_points(small, 5).tolist())) == [(3, 2), (8, 7)]


def test_the_facade_names_it():
    assert levitor.point_tracks is point_tracks and "point_tracks" in levitor.__all__


def test_the_preview_draws_hidden_stretches_and_points_in_grey():
    from levitor.planning.preview import HIDDEN, draw_point_tracks, palette

    paths = np.array([[[10, 10]], [[20, 10]], [[30, 10]]], dtype=np.float32)
    vis = np.array([[True], [True], [False]])
    frames = draw_point_tracks(np.zeros((40, 40, 3), np.uint8), paths, vis, np.array([1]), point_size=3)
    colour = tuple(int(c) for c in palette(2)[1])
    assert frames.shape == (3, 40, 40, 3)
    assert tuple(frames[1, 10, 20]) == colour  # a visible point: a dot in its object's colour
    assert tuple(frames[2, 10, 15]) == colour  # its visible stretch
    assert tuple(frames[2, 10, 25]) == HIDDEN  # the stretch into hiding
    assert tuple(frames[2, 12, 30]) == (0, 0, 0) and tuple(frames[2, 10, 33]) == HIDDEN  # a hidden point: a ring
    anchor = draw_point_tracks(np.zeros((40, 40, 3), np.uint8), paths[:1], vis[:1], np.array([0]), point_size=3)
    assert tuple(anchor[0, 10, 10]) == (255, 255, 255)  # anchors are white
