import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ball_and_obstacle, box, disc
from levitor.assets.demo_scene import make_demo_scene
from levitor.planning.control import draw_control_maps
from levitor.planning.plan import PlanResult, build_plan
from levitor.planning.tracks import tracks_to_json


def test_plan_of_demo_scene_contract():
    s = make_demo_scene(96, 160)
    plan = build_plan(s.image, s.depth, s.object_masks, s.static_masks, s.tracks, num_frames=8)
    assert isinstance(plan, PlanResult)
    assert plan.labels.shape == (8, 160, 96) and plan.labels.dtype == np.int32
    assert plan.depths.shape == (8, 160, 96) and plan.depths.dtype == np.float32
    assert plan.control.shape == (8, 3, 160, 96) and plan.control.dtype == np.float32
    assert plan.trajectories.shape == (1, 8, 3)
    assert len(plan.keypoints) == 8 and all(k.dtype == np.int64 and k.shape[1] == 4 for k in plan.keypoints)
    np.testing.assert_array_equal(plan.control, draw_control_maps(plan.keypoints, 160, 96))
    # Visible object pixels carry the object's trajectory depth.
    for t in range(8):
        obj = plan.labels[t] == 1
        np.testing.assert_array_equal(plan.depths[t][obj], np.float32(plan.trajectories[0, t, 2]))
    # Tracks JSON text gives the same plan.
    again = build_plan(s.image, s.depth, s.object_masks, s.static_masks,
                       tracks_to_json(s.tracks, image_size=(96, 160)), num_frames=8)
    np.testing.assert_array_equal(again.control, plan.control)


def test_moving_nearer_grows_the_mask_and_spreads_the_points():
    h, w = 96, 96
    ball = disc((h, w), 48, 48, 8)
    ground = ~ball
    depth = np.full((h, w), 1 / 40)
    depth[ball] = 1 / 100
    plan = build_plan(np.zeros((h, w, 3), np.uint8), depth, [ball], [ground],
                      [[(48, 48, 1 / 100), (48, 48, 1 / 250)]], num_frames=6)
    area = [(f == 1).sum() for f in plan.labels]
    assert area[-1] > 4 * area[0] and all(np.diff(area) >= 0)
    spread = [np.ptp(k[k[:, 2] == 1][:, :2], axis=0).sum() for k in plan.keypoints]
    assert spread[-1] > 1.8 * spread[0]
    codes = [set(k[k[:, 2] == 1][:, 3].tolist()) for k in plan.keypoints]
    assert codes[0] == {100} and codes[-1] == {250}


def test_passing_behind_and_in_front_of_a_static_object():
    h, w = 80, 100
    ball, pillar, depth = ball_and_obstacle((h, w), (40, 15, 6), (10, 70, 45, 60), 1 / 120)
    image = np.zeros((h, w, 3), np.uint8)
    behind = build_plan(image, depth, [ball], [pillar], [[(15, 40, 1 / 120), (52, 40, 1 / 60)]], num_frames=5)
    front = build_plan(image, depth, [ball], [pillar], [[(15, 40, 1 / 120), (52, 40, 1 / 120)]], num_frames=5)
    assert (behind.labels[-1] == 1).sum() == 0  # fully hidden behind the pillar
    assert np.sum(behind.keypoints[-1][:, 2] == 1) == 0
    assert (front.labels[-1] == 1).sum() > 100
    assert (front.labels[-1][pillar] == 1).sum() > 100  # drawn over the pillar
    assert np.sum(front.keypoints[-1][:, 2] == 1) == 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(tracks=[[(1, 1, 0.5)], [(2, 2, 0.5)]]), "2 tracks for 1 object masks"),
    (dict(object_masks=[np.ones((5, 5), bool)]), r"object_masks\[0\] is 5x5"),
    (dict(object_masks=[np.zeros((32, 32), bool)]), r"object_masks\[0\] is empty"),
    (dict(depth=np.full((32, 32), 2.0)), r"\(0, 1\]"),
    (dict(depth=np.full((32, 32), np.nan)), "NaN"),
    (dict(tracks=[[(1, 1, 0.5), (500, 1, 0.5)]]), "far outside"),
    (dict(tracks="{bad json"), "not valid JSON"),
    (dict(tracks=[[(1, 1, 0.0)]]), r"depth 0"),
    (dict(tracks=[[(1, float("nan"), 0.5)]]), "NaN"),
    (dict(num_frames=0), "num_frames"),
    (dict(ratio=-1.0), "ratio"),
    (dict(bogus=1), "unknown plan option"),
])
def test_bad_input_raises_clear_value_errors(kwargs, message):
    args = dict(image=np.zeros((32, 32, 3), np.uint8), depth=np.full((32, 32), 0.5),
                object_masks=[disc((32, 32), 16, 16, 4)], static_masks=[], tracks=[[(16, 16, 0.4)]])
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        build_plan(**args)


@st.composite
def scenes(draw):
    h = draw(st.integers(12, 40))
    w = draw(st.integers(12, 40))
    n_obj = draw(st.integers(0, 3))
    n_static = draw(st.integers(0, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)

    def blob():
        r0, c0 = rng.integers(0, h - 2), rng.integers(0, w - 2)
        return box((h, w), r0, r0 + rng.integers(2, h - r0 + 1), c0, c0 + rng.integers(2, w - c0 + 1))

    objects = [blob() for _ in range(n_obj)]
    statics = [blob() for _ in range(n_static)]
    d8 = rng.integers(0, 256, size=(h, w)).astype(np.uint8)
    depth = np.where(d8 == 0, 1.0, 1.0 / np.maximum(d8, 1))
    tracks = []
    for _ in range(n_obj):
        n_pts = draw(st.integers(1, 4))
        tracks.append([(float(rng.uniform(-w / 2, 1.5 * w)), float(rng.uniform(-h / 2, 1.5 * h)),
                        float(rng.uniform(0.004, 1.0))) for _ in range(n_pts)])
    frames = draw(st.integers(1, 5))
    ratio = draw(st.sampled_from([0.3, 1.0, 2.0]))
    return rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8), depth, objects, statics, tracks, frames, ratio


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_random_scenes_plan_without_errors(case):
    image, depth, objects, statics, tracks, frames, ratio = case
    plan = build_plan(image, depth, objects, statics, tracks, num_frames=frames, ratio=ratio)
    h, w = depth.shape
    assert plan.labels.shape == (frames, h, w) and plan.depths.shape == (frames, h, w)
    assert plan.control.shape == (frames, 3, h, w) and plan.control.dtype == np.float32
    assert np.all((plan.depths > 0) & (plan.depths <= 1))
    assert plan.control[:, 0].max(initial=0) <= 255
    for k in plan.keypoints:
        assert k.shape[1] == 4 and np.all((k[:, 0] >= 0) & (k[:, 0] < h) & (k[:, 1] >= 0) & (k[:, 1] < w))
        assert np.all(k[:, 3] >= 0)


@settings(max_examples=25, deadline=None)
@given(scenes())
def test_tracks_without_motion_reproduce_the_rest_masks(case):
    image, depth, objects, statics, tracks, frames, ratio = case
    still = [[t[0]] * len(t) for t in tracks]
    plan = build_plan(image, depth, objects, statics, still, num_frames=max(frames, 2))
    for f in plan.labels[1:]:
        np.testing.assert_array_equal(f, plan.labels[0])
    for f in plan.depths[1:]:
        np.testing.assert_array_equal(f, plan.depths[0])
