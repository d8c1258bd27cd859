"""Planning against the original implementation: ``fixtures/reference/plan/occlusion_behind``.

The original planning stage (masks given, no SAM) ran on a synthetic 512×288 scene in which one
user object passes behind a static pillar over 16 frames. We build the same scene from the
recorded inputs, plan with the recorded track and K-means ratio, and compare: the frame-0 and
per-frame label maps exactly; the resampled trajectories and their per-frame deltas to float64
rounding; the keypoints per frame and label, paired one to one within 1 px (scikit-learn's
K-means sums follow its thread partition, so a centre may move by a pixel between machines)
with equal depth codes; the per-frame depth maps through their recorded sums.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from levitor.planning.motion import motion_deltas
from levitor.planning.plan import build_plan
from levitor.planning.scene import disparity8_to_depth
from reference_data import load_case


@pytest.fixture(scope="module")
def case():
    return load_case("plan", "occlusion_behind")


@pytest.fixture(scope="module")
def plan(case):
    ref, meta = case
    inputs = meta["inputs"]
    width = meta["W"]
    static = np.unpackbits(ref["in.static_masks_packed"].numpy(), axis=-1)[..., :width].astype(bool)
    user = ref["in.user_masks"].numpy().astype(bool)
    depth = disparity8_to_depth(ref["in.d8"].numpy())
    tracks = [[(x, y, d) for (x, y), d in zip(xy, depths)]
              for xy, depths in zip(inputs["tracks_xy"], inputs["track_depths"])]
    return build_plan(ref["in.image"].numpy(), depth, list(user), list(static), tracks, num_frames=meta["frames"],
                      ratio=float(inputs["points_num"]), radius=meta["gaussian_r"])


def test_inputs_are_the_recorded_scene(case):
    ref, meta = case
    assert ref["in.image"].shape == (meta["H"], meta["W"], 3)
    assert ref["in.static_masks_packed"].shape == (meta["n_static"], meta["H"], meta["W"] // 8)
    assert ref["in.user_masks"].shape == (meta["n_user"], meta["H"], meta["W"])


def test_label_maps_match_exactly(case, plan):
    ref, meta = case
    np.testing.assert_array_equal(plan.scene.labels, ref["out.label_map0"].numpy().astype(np.int32))
    expected = ref["out.mask_output"].numpy().astype(np.int32)
    assert plan.labels.shape == expected.shape
    for f in range(meta["frames"]):
        wrong = int((plan.labels[f] != expected[f]).sum())
        assert wrong == 0, f"frame {f}: {wrong} pixels carry another label than the original's"


def test_trajectories_and_deltas_match(case, plan):
    ref, _ = case
    np.testing.assert_allclose(plan.trajectories, ref["out.trajectories"].numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(motion_deltas(plan.trajectories), ref["out.moving_deltas"].numpy(), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(plan.trajectories[..., 2].astype(np.float32), ref["out.traj_depth_f32"].numpy())


def test_depth_maps_match_the_recorded_sums(case, plan):
    _, meta = case
    sums = plan.depths.astype(np.float64).sum(axis=(1, 2))
    np.testing.assert_allclose(sums, meta["depth_output"]["per_frame_sum"], rtol=1e-6)


def test_keypoints_match_per_frame_and_label(case, plan):
    ref, meta = case
    expected = ref["out.keypoints"].numpy().astype(np.int64)
    assert len(plan.keypoints) == meta["frames"]
    assert [len(k) for k in plan.keypoints] == meta["keypoints_per_frame"]
    for f, ours in enumerate(plan.keypoints):
        theirs = expected[expected[:, 0] == f][:, 1:]
        for label in np.unique(np.concatenate([ours[:, 2], theirs[:, 2]])):
            a, b = ours[ours[:, 2] == label], theirs[theirs[:, 2] == label]
            assert len(a) == len(b), f"frame {f} label {label}: {len(a)} keypoints, the original has {len(b)}"
            cost = np.abs(a[:, None, :2] - b[None, :, :2]).max(axis=-1)
            rows, cols = linear_sum_assignment(cost)
            worst = int(cost[rows, cols].max())
            assert worst <= 1, f"frame {f} label {label}: a keypoint is {worst} px from its original partner"
            # the depth code is read at the keypoint: a centre moved by a pixel may read a neighbour
            moved = cost[rows, cols] > 0
            np.testing.assert_array_equal(a[rows[~moved], 3], b[cols[~moved], 3],
                                          err_msg=f"frame {f} label {label}: depth codes")
