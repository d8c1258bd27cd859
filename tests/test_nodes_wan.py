"""The Wan point-track nodes against the fake host: core TRACKS, the ATI text, the preview, and the
node that declines on a ComfyUI without the TRACKS type."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch

from fakes.comfy_host import fake_host, node_map, pack, run_node  # noqa: F401  (fixtures)
from levitor.planning.point_tracks import point_tracks

H, W = 48, 128
TRACK = [(14.0, 24.0, 0.6), (114.5, 24.0, 0.6)]


def track_set(pack, camera=False):
    image = np.full((H, W, 3), 100, dtype=np.uint8)
    depth = np.ones((H, W))
    ball = np.zeros((H, W), bool)
    ball[20:28, 10:18] = True
    pillar = np.zeros((H, W), bool)
    pillar[:, 60:70] = True
    depth[ball], depth[pillar] = 0.6, 0.3
    tracks = [list(TRACK)] + ([[(64.0, 24.0, 1.0), (74.0, 24.0, 1.0)]] if camera else [])
    return pack.nodes.sockets.TrackSet(image=image, depth=depth, object_masks=[ball], static_masks=[pillar],
                                       tracks=tracks)


def test_wan_move_tracks_are_the_plans_point_tracks_as_core_tracks(pack):
    ts = track_set(pack)
    node = node_map(pack)["LeviTorWanMoveTracks"]
    out = run_node(node, ts, 21, 256, 96, "off", 6, 4)
    tracks, preview = out.result
    assert set(tracks) == {"track_path", "track_visibility"}
    path, vis = tracks["track_path"], tracks["track_visibility"]
    assert path.dtype == torch.float32 and vis.dtype == torch.bool
    assert path.shape == (21, 10, 2) and vis.shape == (21, 10)  # a full [T, N] visibility
    lib = point_tracks(ts.image, ts.depth, ts.object_masks, ts.static_masks, [TRACK], 21, points_per_object=6,
                       static_points=4, output_size=(256, 96))
    assert np.array_equal(path.numpy(), lib.paths) and np.array_equal(vis.numpy(), lib.visibility)
    assert vis[0].all() and not vis.all()  # the ball passes behind the pillar
    assert preview.shape == (21, 96, 256, 3) and preview.dtype == torch.float32


def test_points_hidden_in_the_first_frame_are_left_out(pack):
    wan = pack.nodes.wan_nodes
    res = point_tracks(*[np.zeros((8, 8, 3), np.uint8), np.ones((8, 8)), [np.eye(8, dtype=bool)], [],
                         [[(3, 3, 0.5)]], 5], points_per_object=3, static_points=0)
    res.visibility[0, 1] = False
    core = wan.core_tracks(res)
    assert core["track_path"].shape == (5, 2, 2)
    assert np.array_equal(core["track_path"].numpy(), res.paths[:, [0, 2]])
    assert len(json.loads(wan.ati_tracks_text(res))) == 2


def test_ati_tracks_are_121_samples_over_the_video(pack):
    ts = track_set(pack)
    out = run_node(node_map(pack)["LeviTorATITracks"], ts, 256, 96, "off", 5, 0)
    text, preview = out.result
    assert "'" not in text
    parsed = json.loads(text)
    assert len(parsed) == 5 and all(len(t) == 121 for t in parsed)
    lib = point_tracks(ts.image, ts.depth, ts.object_masks, ts.static_masks, [TRACK], 121, points_per_object=5,
                       static_points=0, output_size=(256, 96))
    got = np.array([[[p["x"], p["y"]] for p in t] for t in parsed]).transpose(1, 0, 2)
    assert np.allclose(got, lib.paths, atol=0.006)
    # the first and last samples are the video's first and last frames: start and end of the 3D track
    assert np.allclose(got[-1, :, 0] - got[0, :, 0], 2 * (114.5 - 14), atol=0.01)
    assert preview.shape == (121, 96, 256, 3)


def test_a_camera_track_needs_camera_move_and_moves_the_anchors(pack):
    node = node_map(pack)["LeviTorWanMoveTracks"]
    with pytest.raises(ValueError, match="needs a camera track"):
        run_node(node, track_set(pack), 9, 128, 48, "last track moves the background", 2, 2)
    tracks, _ = run_node(node, track_set(pack, camera=True), 9, 128, 48, "last track moves the background", 2,
                         3).result
    anchors = tracks["track_path"][:, 2:]
    assert torch.allclose(anchors[-1] - anchors[0], torch.tensor([10.0, 0.0]).expand(3, 2), atol=1e-4)
    assert "camera_move must be one of" in node.validate_inputs("on")


def test_the_tracks_node_declines_without_the_tracks_type(pack):
    wan = pack.nodes.wan_nodes
    listed, why = wan.available_nodes(types.SimpleNamespace())
    assert listed == [wan.LeviTorATITracks]
    assert "LeviTorWanMoveTracks" in why and "update ComfyUI" in why
    listed, why = wan.available_nodes(types.SimpleNamespace(Tracks=object()))
    assert wan.LeviTorWanMoveTracks in listed and why is None


def test_bad_input_names_the_input(pack):
    node = node_map(pack)["LeviTorWanMoveTracks"]
    with pytest.raises(ValueError, match="LeviTorTrajectory3DEditor"):
        run_node(node, "not a plan", 9, 128, 48, "off", 2, 2)
    with pytest.raises(ValueError, match="points_per_object"):
        run_node(node, track_set(pack), 9, 128, 48, "off", 0, 2)
