"""The planning stages: frame subsets, the lifted scene, warnings, the camera move, the control stage."""

import json

import numpy as np
import pytest

from conftest import box, disc
from levitor.assets.demo_scene import ASSET_DIR
from levitor.cli import main
from levitor.planning.options import PlanOptions
from levitor.planning.plan import build_plan
from levitor.planning.stages import build_scene, control_stage, lift_scene, render_stage

H, W = 64, 96


def _scene(**kwargs):
    image = np.full((H, W, 3), 100, dtype=np.uint8)
    depth = np.full((H, W), 1 / 20)
    ball = disc((H, W), 32, 20, 6)
    depth[ball] = 1 / 200
    wall = box((H, W), 10, 50, 60, 70)
    depth[wall] = 1 / 80
    return build_scene(image, depth, [ball], [wall], **kwargs), ball, wall


TRACK = [[(20, 32, 1 / 200), (50, 30, 1 / 150), (80, 32, 1 / 250)]]


@pytest.mark.parametrize("frames", [[0], [5], [7, 2], [3, 3]])
def test_a_frame_subset_equals_the_same_frames_of_the_full_render(frames):
    scene, _, _ = _scene()
    opts = PlanOptions(num_frames=8)
    full = render_stage(scene, TRACK, opts)
    part = render_stage(scene, TRACK, opts, frames=frames)
    assert part.frames == frames and full.frames == list(range(8))
    np.testing.assert_array_equal(part.labels, full.labels[frames])
    np.testing.assert_array_equal(part.depths, full.depths[frames])
    np.testing.assert_array_equal(part.trajectories, full.trajectories)
    # The area statistics are those of the rendered frames (pixel counts per label, by hand).
    for lab in range(1, int(scene.labels.max()) + 1):
        counts = [(full.labels[f] == lab).sum() for f in frames]
        assert part.area_min[lab - 1] == min(counts) and part.area_max[lab - 1] == max(counts)
    with pytest.raises(ValueError, match=r"frames \[8\] are outside 0..7"):
        render_stage(scene, TRACK, opts, frames=[8])
    with pytest.raises(ValueError, match="frames is empty"):
        render_stage(scene, TRACK, opts, frames=[])


def test_a_lifted_scene_renders_any_tracks_like_the_scene_itself():
    scene, _, _ = _scene()
    lifted = lift_scene(scene)
    opts = PlanOptions(num_frames=6)
    for track in (TRACK, [[(20, 32, 1 / 200), (20, 10, 1 / 100)]], [[(20, 32, 1 / 200)]]):
        a = render_stage(lifted, track, opts, frames=[5])
        b = render_stage(scene, track, opts)
        assert a.scene is scene
        np.testing.assert_array_equal(a.labels[0], b.labels[5])


def test_moving_right_at_the_same_depth_translates_the_object():
    scene, ball, _ = _scene()
    out = render_stage(scene, [[(20, 32, 1 / 200), (44, 32, 1 / 200)]], PlanOptions(num_frames=3))
    # No depth change: every point moves by the track's 24 px. A point sits at its pixel's integer
    # coordinates, the corner shared with the pixels above and left (pixel centres are at +0.5), so
    # its 1.584-px splat covers those four pixels (0.5 and 0.71 px away; the next ring is 1.5 px).
    def splatted(m):
        return m | np.roll(m, -1, axis=0) | np.roll(m, -1, axis=1) | np.roll(m, (-1, -1), (0, 1))

    np.testing.assert_array_equal(out.labels[-1] == 1, splatted(np.roll(ball, 24, axis=1)))
    np.testing.assert_array_equal(out.labels[0] == 1, splatted(ball))  # frame 0: the rest pose


def test_warnings_are_given_once_each():
    image = np.full((H, W, 3), 100, dtype=np.uint8)
    depth = np.full((H, W), 0.05)
    big = disc((H, W), 32, 30, 10)
    tiny = box((H, W), 0, 2, 0, 2)  # 4 pixels, under 0.001 * 64 * 96 = 6.1: dropped
    scene = build_scene(image, depth, [big, tiny], [])
    opts = PlanOptions(num_frames=4, splat_units="ndc", base_radius=0.011)  # 0.011 * 32 = 0.35 px
    out = render_stage(scene, [[(30, 32, 0.05), (40, 32, 0.05)], [(1, 1, 0.5)]], opts)
    assert out.warnings == [
        "depth is constant: every pixel is at the same depth, so occlusion and perspective scaling are lost; "
        "check the depth map",
        "the image is 96x64: with splat_units 'ndc' the splat radius is under a pixel, so moved objects barely "
        "render; use splat_units 'pixels'",
        "object 1 lost all its pixels in the label map (too small, or covered by a later larger mask); its track "
        "has no effect",
        "track 1 has one point: object 1 stays in place",
    ]
    plan = build_plan(image, depth, [big, tiny], [], [[(30, 32, 0.05), (40, 32, 0.05)], [(1, 1, 0.5)]],
                      num_frames=4, splat_units="ndc")
    assert plan.warnings == out.warnings


def test_camera_track_moves_the_background_in_the_core():
    scene, ball, wall = _scene(camera_move=True)
    assert scene.camera_move and scene.num_objects == 2 and scene.num_tracks == 1
    # The background is every pixel outside the object masks, label 2; the statics are inside it.
    np.testing.assert_array_equal(scene.labels == 2, ~ball)
    cam = [(48, 32, 0.5), (60, 32, 0.5)]
    out = render_stage(scene, [[(20, 32, 1 / 200)]], PlanOptions(num_frames=5), camera_track=cam)
    assert out.trajectories.shape == (2, 5, 3)
    np.testing.assert_array_equal(out.trajectories[1, :, 0], np.linspace(48, 60, 5))
    # The background slides 12 px right at constant depth: the left 11 columns are vacated.
    last = out.labels[-1]
    assert (last[:, :11] == 2).sum() == 0 and (out.labels[0][:, :11] == 2).all()
    assert (last[:, 20:] == 2).sum() > 0.9 * (~ball[:, 20:]).sum()
    # The same through build_plan, with the camera track as tracks JSON text.
    text = json.dumps({"format": "levitor-tracks", "version": 1, "tracks": [{"points": [list(p) for p in cam]}]})
    image = np.full((H, W, 3), 100, dtype=np.uint8)
    plan = build_plan(image, scene.depth, [ball], [wall], [[(20, 32, 1 / 200)]], num_frames=5, camera_track=text)
    np.testing.assert_array_equal(plan.labels, out.labels)


def test_camera_track_and_scene_must_agree():
    plain, _, _ = _scene()
    moving, _, _ = _scene(camera_move=True)
    with pytest.raises(ValueError, match="camera_move=True"):
        render_stage(plain, TRACK, camera_track=[(1, 1, 0.5)])
    with pytest.raises(ValueError, match="camera_track is missing"):
        render_stage(moving, TRACK)
    with pytest.raises(ValueError, match="camera_track: give one track, got 2"):
        render_stage(moving, TRACK, camera_track='[[[1, 1, 0.5]], [[2, 2, 0.5]]]')
    everything = np.ones((H, W), dtype=bool)
    with pytest.raises(ValueError, match="no background to move"):
        build_scene(np.zeros((H, W, 3), np.uint8), np.full((H, W), 0.5), [everything], camera_move=True)


def test_control_stage_reads_its_options_and_calls_the_hook():
    labels = np.zeros((2, 40, 40), dtype=np.int32)
    labels[:, 10:30, 10:30] = 1  # one moved object of 400 px
    depths = np.full((2, 40, 40), 0.1)
    calls = []
    out = control_stage(labels, depths, 1, PlanOptions(radius=4, use_depth=False), check=lambda: calls.append(1))
    assert calls == [1]
    # k rule by hand: round(50 * 400 / 1600) = 12, capped at k_max 8.
    assert [len(k) for k in out.keypoints] == [8, 8]
    for kps, ctrl in zip(out.keypoints, out.control):
        for r, c, lab, code in kps.tolist():
            assert 10 <= r < 30 and 10 <= c < 30 and lab == 1 and code == 10  # round(1 / 0.1)
        assert ctrl[2].max() == 0 and set(np.unique(ctrl[1])) == {0.0, 1.0}
        rows, cols = np.nonzero(ctrl[0])
        # Boxes of half-size 4 around the keypoints: nothing further than 4 px from one.
        near = [min(max(abs(r - kr), abs(c - kc)) for kr, kc, _, _ in kps.tolist()) for r, c in zip(rows, cols)]
        assert max(near) <= 4
    assert [len(k) for k in control_stage(labels, depths, 1, PlanOptions(ratio=0.25)).keypoints] == [2, 2]
    with pytest.raises(ValueError, match="ratio"):
        control_stage(labels, depths, 1, PlanOptions(ratio=0))
    with pytest.raises(ValueError, match="radius"):
        control_stage(labels, depths, 1, PlanOptions(radius=0))


def test_unknown_plan_options_are_refused():
    scene_args = (np.full((H, W, 3), 100, np.uint8), np.full((H, W), 0.05), [disc((H, W), 32, 30, 10)], [],
                  [[(30, 32, 0.05)]])
    for name in ("clamp", "clamp_k", "wrap_uint8"):
        with pytest.raises(ValueError, match=f"unknown plan option.*{name}"):
            build_plan(*scene_args, num_frames=2, **{name: True})


def test_cli_plan_with_a_camera_track(tmp_path, capsys):
    masks = sorted(str(p) for p in ASSET_DIR.glob("object_*.png"))
    cam = tmp_path / "camera.json"
    cam.write_text(json.dumps({"image_size": [288, 512], "tracks": [[[144, 256, 0.5], [174, 256, 0.5]]]}))
    args = ["plan", "--image", str(ASSET_DIR / "image.png"), "--depth", str(ASSET_DIR / "disparity8.png"),
            "--masks", *masks, "--tracks", str(ASSET_DIR / "tracks.json"), "--camera", str(cam),
            "--frames", "3", "--format", "gif", "--out", str(tmp_path / "p")]
    assert main(args) == 0
    labels = np.load(tmp_path / "p" / "labels.npy")
    background = len(masks) + 1
    # The background moves 30 px right: the left 29 columns hold none of it in the last frame.
    assert (labels[0][:, :29] == background).any() and not (labels[-1][:, :29] == background).any()
    two = tmp_path / "two.json"
    two.write_text(json.dumps({"tracks": [[[1, 1, 0.5]], [[2, 2, 0.5]]]}))
    args[args.index("--camera") + 1] = str(two)
    args[-1] = str(tmp_path / "q")
    assert main(args) == 2
    assert "--camera takes a tracks file with one track, it has 2" in capsys.readouterr().err
