"""Trajectory editor, moved-mask rendering and K-means control nodes against the fake host."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from fakes.comfy_host import InterruptProcessingException, fake_host, node_map, pack, run_node  # noqa: F401  (fixtures)

S = 3  # scale the 64x48 scene up to 192x144


@pytest.fixture
def scene(small_scene):
    def up(a):
        return np.repeat(np.repeat(a, S, 0), S, 1)

    return dict(image=up(small_scene["image"]), d8=up(small_scene["d8"]),
                object_masks=[up(m) for m in small_scene["object_masks"]],
                static_masks=[up(m) for m in small_scene["static_masks"]])


def _inputs(scene):
    image = torch.from_numpy(scene["image"].astype(np.float32) / 255.0)[None]
    masks = torch.from_numpy(np.stack(scene["object_masks"]).astype(np.float32))
    statics = torch.from_numpy(np.stack(scene["static_masks"]).astype(np.float32))
    depth = torch.from_numpy(np.repeat((scene["d8"].astype(np.float32) / 255.0)[..., None], 3, -1))[None]
    return image, masks, statics, depth


TRACK = {"format": "levitor-tracks", "version": 1, "tracks": [{"points": [[36, 120, 1 / 255], [90, 60, 1 / 60]]}]}


def _editor(pack):
    return node_map(pack)["LeviTorTrajectory3DEditor"]


def test_editor_outputs_tracks_preview_report_and_scene_files(pack, fake_host, scene):
    image, masks, statics, depth = _inputs(scene)
    out = run_node(_editor(pack), image, masks, depth, json.dumps(TRACK), static_segments=statics, unique_id="7")
    track_set, preview, report = out.result
    h, w = scene["image"].shape[:2]
    assert track_set.tracks == [[(36.0, 120.0, 1 / 255), (90.0, 60.0, 1 / 60)]]
    assert preview.shape == (1, h, w, 3) and preview.dtype == torch.float32
    assert 0.0 <= float(preview.min()) and float(preview.max()) <= 1.0
    # the depth IMAGE is min-max normalised to 8 bits: the ball is nearest (d8 255), the sky farthest (1.0)
    ball_depth = track_set.depth[120, 36]
    assert ball_depth == 1 / 255 and track_set.depth[0, 0] == 1.0
    wall_d8 = int(255 * (80 - 40) / (150 - 40))
    assert abs(track_set.depth[60, 90] - 1 / wall_d8) < 1e-9
    assert f"{ball_depth:.4g}" in report.splitlines()[0]
    entry = out.ui["levitor_scene"][0]
    assert (entry["width"], entry["height"], entry["num_objects"]) == (w, h, 1)
    folder = os.path.join(fake_host.temp_dir, entry["labels"]["subfolder"])
    labels = np.asarray(Image.open(os.path.join(folder, entry["labels"]["filename"])))
    assert entry["labels"]["type"] == "temp"
    assert labels.shape == (h, w) and set(np.unique(labels)) == {0, 1}
    assert np.array_equal(labels == 1, scene["object_masks"][0])
    d8 = np.asarray(Image.open(os.path.join(folder, entry["depth8"]["filename"])))
    assert d8[120, 36] == 255 and d8[60, 90] == wall_d8 and d8[0, 0] == 1
    img = np.asarray(Image.open(os.path.join(folder, entry["image"]["filename"])))
    assert np.array_equal(img, scene["image"])
    assert not [f for f in os.listdir(folder) if f.endswith(".part")]
    scene = pack.nodes.scene_cache.get_scene("7")
    assert scene is not None and scene.num_objects == 1 and scene.labels.max() >= 2


def test_editor_without_tracks_keeps_objects_in_place(pack, scene):
    image, masks, _, depth = _inputs(scene)
    out = run_node(_editor(pack), image, masks, depth, '{"format": "levitor-tracks", "version": 1, "tracks": []}')
    track_set, _, report = out.result
    assert len(track_set.tracks) == 1 and len(track_set.tracks[0]) == 1
    x, y, d = track_set.tracks[0][0]
    assert abs(x - 37) < 0.5 and abs(y - 121) < 0.5 and d == 1 / 255
    assert "stays in place" in report
    moved, _ = run_node(node_map(pack)["LeviTorRenderMovedMasks"], track_set, 3, "off")
    assert moved.warnings == ["track 0 has one point: object 0 stays in place"]  # said once


def test_editor_reads_kjnodes_coord_str_with_depth_list(pack, scene):
    image, masks, _, depth = _inputs(scene)
    coord = json.dumps([{"x": 36, "y": 120}, {"x": 60, "y": 90}, {"x": 90, "y": 60}])
    out = run_node(_editor(pack), image, masks, depth, "", coord_str=coord, depths="[0.01, 0.02]")
    tracks = out.result[0].tracks
    assert [p[:2] for p in tracks[0]] == [(36, 120), (60, 90), (90, 60)]
    assert np.allclose([p[2] for p in tracks[0]], [0.01, 0.015, 0.02])


@pytest.mark.parametrize("kwargs, match", [
    (dict(tracks_json=json.dumps({"tracks": [[[1, 1, 0.5]], [[2, 2, 0.5]], [[3, 3, 0.5]]]})), "3 tracks for 1"),
    (dict(tracks_json="{not json"), "tracks_json is not valid JSON"),
    (dict(tracks_json=json.dumps({"tracks": [[[1, 1, 2.0]]]})), r"track 0 point 0 has depth 2.*\[0.0001, 1\]"),
    (dict(tracks_json="", coord_str='[{"x": 1, "y": 2}]', depths=""), "depths is empty"),
])
def test_editor_rejects_bad_tracks_with_named_input(pack, scene, kwargs, match):
    image, masks, _, depth = _inputs(scene)
    with pytest.raises(ValueError, match=match):
        run_node(_editor(pack), image, masks, depth, **kwargs)


def test_editor_rejects_masks_of_another_shape(pack, scene):
    image, _, _, depth = _inputs(scene)
    with pytest.raises(ValueError, match="object_masks is 64x64"):
        run_node(_editor(pack), image, torch.ones(1, 64, 64), depth, json.dumps(TRACK))
    with pytest.raises(ValueError, match="object_masks\\[0\\] is empty"):
        run_node(_editor(pack), image, torch.zeros(1, 192, 144), depth, json.dumps(TRACK))


def test_editor_resizes_same_aspect_inputs(pack, scene):
    image, masks, _, depth = _inputs(scene)
    big_masks = masks.repeat_interleave(2, 1).repeat_interleave(2, 2)
    big_depth = depth.repeat_interleave(2, 1).repeat_interleave(2, 2)
    out = run_node(_editor(pack), image, big_masks, big_depth, json.dumps(TRACK))
    ts = out.result[0]
    assert np.array_equal(ts.object_masks[0], scene["object_masks"][0])
    assert ts.depth.shape == (192, 144)


def _plan_nodes(pack, scene, tracks=TRACK, camera="off", num_frames=6):
    image, masks, statics, depth = _inputs(scene)
    track_set = run_node(_editor(pack), image, masks, depth, json.dumps(tracks)).result[0]
    render = node_map(pack)["LeviTorRenderMovedMasks"]
    moved, preview = run_node(render, track_set, num_frames, camera, static_segments=statics)
    return track_set, moved, preview


def test_render_and_kmeans_nodes_plan_the_scene(pack, fake_host, scene):
    slide = {"tracks": [[[36, 120, 1 / 255], [86, 120, 1 / 255]]]}  # 50 px right, nearest of all
    ts, moved, preview = _plan_nodes(pack, scene, tracks=slide)
    assert moved.labels.shape == (6, 192, 144) and moved.depths.shape == (6, 192, 144)
    assert preview.shape == (6, 192, 144, 3) and preview.dtype == torch.float32
    # At constant depth the ball (label 1) only translates: by 10 px a frame, its splat adding one
    # pixel up and left (points sit on their pixel's top-left corner), drawn over everything.
    ball = scene["object_masks"][0]
    for f in range(6):
        m = np.roll(ball, 10 * f, axis=1)
        m = m | np.roll(m, -1, 0) | np.roll(m, -1, 1) | np.roll(m, (-1, -1), (0, 1))
        np.testing.assert_array_equal(moved.labels[f] == 1, m)
        assert (moved.depths[f][m] == np.float32(1 / 255)).all()
    kmeans = node_map(pack)["LeviTorKMeansControlPoints"]
    plan, cpreview = run_node(kmeans, moved, 1.0, True, True)
    assert plan.control.shape == (6, 3, 192, 144) and plan.control.dtype == np.float32
    assert cpreview.shape == (6, 192, 144, 3)
    for f, kps in enumerate(plan.keypoints):
        ball_kps = kps[kps[:, 2] == 1]
        # A moved object gets at least k_min_forced = 3 points (50 * area / (H * W) rounds to 2).
        assert len(ball_kps) == 3 and round(50 * (moved.labels == 1).sum(axis=(1, 2)).max() / (192 * 144)) == 2
        for r, c, lab, _ in kps.tolist():
            assert moved.labels[f, r, c] == lab  # K-means centres of convex regions lie inside them
        assert (ball_kps[:, 3] == 255).all()  # depth code round(1 / (1/255))
        for r, c, _, _ in ball_kps.tolist():
            assert plan.control[f, 1, r, c] == 1 and plan.control[f, 2, r, c] == 255
    news = [p for p in fake_host.progress if p[0] == "new"]
    assert ("new", 2) in news and fake_host.progress[-1] == ("update", 2)


@pytest.mark.parametrize("track, offsets", [
    ({"easing": "ease-in", "points": [[36, 120, 1 / 255], [86, 120, 1 / 255]]}, [0, 2, 8, 18, 32, 50]),  # 50 (f/5)^2
    ({"points": [[36, 120, 1 / 255], [86, 120, 1 / 255, 2]]}, [0, 25, 50, 50, 50, 50]),  # there at frame 2
])
def test_the_render_node_moves_objects_with_the_tracks_timing(pack, scene, track, offsets):
    ts, moved, _ = _plan_nodes(pack, scene, tracks={"format": "levitor-tracks", "version": 2, "tracks": [track]})
    ball = scene["object_masks"][0]
    for f, dx in enumerate(offsets):
        m = np.roll(ball, dx, axis=1)
        m = m | np.roll(m, -1, 0) | np.roll(m, -1, 1) | np.roll(m, (-1, -1), (0, 1))
        np.testing.assert_array_equal(moved.labels[f] == 1, m, err_msg=f"frame {f}")


def test_the_render_node_names_a_keyframe_past_its_last_frame(pack, scene):
    late = {"tracks": [{"points": [[36, 120, 1 / 255], [86, 120, 1 / 255, 9]]}]}
    with pytest.raises(ValueError, match=r"track 0 point 1 has frame 9 but the plan has 6 frames \(0 to 5\)"):
        _plan_nodes(pack, scene, tracks=late)


def test_render_node_reads_its_options(pack, scene):
    image, masks, statics, depth = _inputs(scene)
    ts = run_node(_editor(pack), image, masks, depth, json.dumps(TRACK)).result[0]
    render = node_map(pack)["LeviTorRenderMovedMasks"]
    small, _ = run_node(render, ts, 4, "off", static_segments=statics)
    big, _ = run_node(render, ts, 4, "off", static_segments=statics, base_radius=0.05)
    assert small.options.base_radius == 0.011 and big.options.base_radius == 0.05
    assert small.options.num_frames == 4 and small.labels.shape[0] == 4
    assert (big.labels[-1] == 1).sum() > (small.labels[-1] == 1).sum()
    dropped, _ = run_node(render, ts, 4, "off", static_segments=statics, min_area_frac=0.2)
    # The ball (4 % of the image) and the wall (12.5 %) are under 20 %: only the floor (label 3) is left.
    assert set(np.unique(small.scene.labels)) == {0, 1, 2, 3} and set(np.unique(dropped.scene.labels)) == {0, 3}
    assert dropped.warnings == ["object 0 lost all its pixels in the label map (too small, or covered by a later "
                                "larger mask); its track has no effect"]


def test_kmeans_channel_toggles_and_ratio(pack, scene):
    _, moved, _ = _plan_nodes(pack, scene)
    kmeans = node_map(pack)["LeviTorKMeansControlPoints"]
    plan, _ = run_node(kmeans, moved, 1.0, False, False)
    assert plan.control[:, 1].max() == 0 and plan.control[:, 2].max() == 0 and plan.control[:, 0].max() > 0
    few, _ = run_node(kmeans, moved, 0.2, True, True)
    many, _ = run_node(kmeans, moved, 3.0, True, True)
    assert sum(len(k) for k in few.keypoints) < sum(len(k) for k in many.keypoints)
    with pytest.raises(ValueError, match="radius"):
        run_node(kmeans, moved, 1.0, True, True, radius=0)


def test_camera_move_moves_the_background(pack, scene):
    cam = {"tracks": [[[36, 120, 1 / 255]], [[72, 96, 0.5], [102, 96, 0.5]]]}
    with pytest.raises(ValueError, match="camera_move needs a camera track"):
        _plan_nodes(pack, scene, camera="last track moves the background")
    ts, still, _ = _plan_nodes(pack, scene, tracks=cam, camera="off")
    assert ts.has_camera_track and still.scene.num_objects == 1
    assert any("enable camera_move" in w for w in still.warnings)
    image, masks, _, depth = _inputs(scene)
    report = run_node(_editor(pack), image, masks, depth, json.dumps(cam)).result[2]
    assert "camera track point 1" in report and "enable camera_move" not in report  # the editor cannot know
    _, moved, _ = _plan_nodes(pack, scene, tracks=cam, camera="last track moves the background")
    assert not any("camera" in w for w in moved.warnings), moved.warnings
    assert moved.scene.num_objects == 2
    assert moved.trajectories.shape == (2, 6, 3)
    # the background is label 2 and shifts right by 30 px: the left columns are vacated in the last frame
    assert (moved.scene.labels == 2).sum() > 0.5 * moved.scene.labels.size
    assert (moved.labels[0][:, :20] == 2).sum() > 0
    assert (moved.labels[-1][:, :20] == 2).sum() < 0.2 * (moved.labels[0][:, :20] == 2).sum()


def test_render_cancel_raises_interrupt(pack, fake_host, scene):
    image, masks, statics, depth = _inputs(scene)
    ts = run_node(_editor(pack), image, masks, depth, json.dumps(TRACK)).result[0]
    fake_host.interrupted = True
    with pytest.raises(InterruptProcessingException):
        run_node(node_map(pack)["LeviTorRenderMovedMasks"], ts, 6, "off")


def test_planning_nodes_reject_wrong_socket_objects(pack):
    with pytest.raises(ValueError, match="LeviTorTrajectory3DEditor"):
        run_node(node_map(pack)["LeviTorRenderMovedMasks"], {"tracks": []}, 6, "off")
    with pytest.raises(ValueError, match="LeviTorRenderMovedMasks"):
        run_node(node_map(pack)["LeviTorKMeansControlPoints"], None, 1.0, True, True)


def test_editor_validates_tracks_json_before_running(pack):
    cls = node_map(pack)["LeviTorTrajectory3DEditor"]
    assert cls.validate_inputs(json.dumps(TRACK)) is True
    assert cls.validate_inputs("") is True
    msg = cls.validate_inputs('{"tracks": [[[1, 2]]]}')
    assert isinstance(msg, str) and "tracks_json" in msg and "[x, y, depth]" in msg


def test_editor_depth_report_warns_about_a_flat_or_photo_depth(pack, scene):
    """A constant depth IMAGE, or the start photo wired in as depth, is named in the report."""
    image, masks, _, depth = _inputs(scene)
    out = run_node(_editor(pack), image, masks, depth, json.dumps(TRACK))
    assert "depth" not in out.result[2].splitlines()[0].split(":")[0]  # the scene's own depth map is fine
    flat = torch.full_like(depth, 0.5)
    report = run_node(_editor(pack), image, masks, flat, json.dumps(TRACK)).result[2]
    assert report.splitlines()[0].startswith("depth is constant")
    photo = image.clone()
    photo[..., 0] = 1.0  # strongly coloured, as a photo is
    report = run_node(_editor(pack), image, masks, photo, json.dumps(TRACK)).result[2]
    assert "looks like a colour photo" in report
