"""The point-track nodes inside a real ComfyUI process (run with the host's python).

``python wan_host_check.py COMFYUI_DIR CHECK WORK_DIR`` prints one JSON line and exits 1 when a
check fails. CHECK:

* ``current`` (a ComfyUI with the Wan-Move nodes): ``LeviTorWanMoveTracks`` plans a ball passing
  behind a pillar; its TRACKS go into core ``WanMoveVisualizeTracks`` and into
  ``WanMoveTrackToVideo`` with a Wan 2.1 VAE of random weights at a tiny width (what the node
  needs: a VAE, conditioning and a start image). The latent positions core's
  ``create_pos_embeddings`` reads at every 4th frame equal ``floor(y / 8), floor(x / 8)`` of our
  paths where visible (else none); in the positive conditioning every latent cell a visible
  track reaches holds the feature of its first-frame cell and every other cell the plain encoding.
  The ATI text runs through core ``WanTrackToVideo``.
* ``minimum`` (a ComfyUI without the TRACKS type): the pack's nodes import, the TRACKS node is left
  out with one log line, and the ATI node runs.
* ``strip``: writes ``WORK_DIR/wan_tracks_strip.png``, the demo scene's 3D plan drawn by core's
  ``WanMoveVisualizeTracks`` (every 10th of 81 frames, side by side).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from native_host_check import setup  # noqa: E402

W_PLAN, H_PLAN = 128, 64
W_OUT, H_OUT, LENGTH = 256, 128, 17


def scene(TrackSet):
    image = np.zeros((H_PLAN, W_PLAN, 3), dtype=np.uint8)
    image[:] = (70, 140, 200)
    depth = np.ones((H_PLAN, W_PLAN))
    ball = np.zeros((H_PLAN, W_PLAN), bool)
    ball[26:38, 8:20] = True
    pillar = np.zeros((H_PLAN, W_PLAN), bool)
    pillar[:, 60:72] = True
    image[ball], image[pillar] = (220, 60, 40), (170, 120, 90)
    depth[ball], depth[pillar] = 0.6, 0.3
    return TrackSet(image=image, depth=depth, object_masks=[ball], static_masks=[pillar],
                    tracks=[[(14.0, 32.0, 0.6), (112.0, 30.0, 0.6)]])


def tiny_wan_vae():
    """A Wan 2.1 VAE with random weights at 8 base channels, loaded by ComfyUI's ``VAE`` class
    (which reads the width from the weights; ComfyUI's layers leave weights uninitialised, so they
    are drawn here)."""
    import comfy.ldm.wan.vae
    import comfy.sd

    net = comfy.ldm.wan.vae.WanVAE(dim=8, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                                   temperal_downsample=[False, True, True])
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.ones_like(v) if "gamma" in k else torch.randn(v.shape, generator=g) * 0.05
          for k, v in net.state_dict().items()}
    return comfy.sd.VAE(sd=sd)


def expected_positions(path: np.ndarray, vis: np.ndarray, width: int, height: int) -> np.ndarray:
    """``[N, T', 2]`` latent ``(row, column)`` of every track at frames 0, 4, 8, ... (-1 where hidden
    or outside), worked out from our paths."""
    frames = list(range(0, path.shape[0], 4))
    out = -np.ones((path.shape[1], len(frames), 2), dtype=np.int64)
    for k, t in enumerate(frames):
        x, y = path[t, :, 0], path[t, :, 1]
        ok = vis[t] & (x >= 0) & (y >= 0) & (x < width) & (y < height)
        out[ok, k, 0] = np.floor(y[ok] / 8).astype(np.int64)
        out[ok, k, 1] = np.floor(x[ok] / 8).astype(np.int64)
    return out


def check_current(wan, work: Path) -> dict:
    import comfy.utils
    from comfy_extras import nodes_wanmove as core
    from comfy_extras.nodes_wan import WanTrackToVideo

    ts = scene(wan.TrackSet)
    out = wan.LeviTorWanMoveTracks.execute(ts, LENGTH, W_OUT, H_OUT, "off", 12, 6)
    tracks, preview = out.args
    path = tracks["track_path"].numpy().astype(np.float64)
    vis = tracks["track_visibility"].numpy()
    n = path.shape[1]
    result = {"num_tracks": n, "shape": list(path.shape), "vis_shape": list(vis.shape),
              "hidden_some_frames": int((~vis).any(0).sum()), "preview_shape": list(preview.shape)}

    start = torch.from_numpy(ts.image.astype(np.float32) / 255.0)[None]
    start_out = comfy.utils.common_upscale(start.movedim(-1, 1), W_OUT, H_OUT, "bilinear", "center").movedim(1, -1)
    drawn = core.WanMoveVisualizeTracks.execute(start_out, 24, 12, 0.75, 16, tracks=tracks).args[0]
    result["visualised_shape"] = list(drawn.shape)

    torch.manual_seed(5)
    perm = torch.randperm(n).numpy()
    torch.manual_seed(5)
    pos = core.create_pos_embeddings(tracks["track_path"], tracks["track_visibility"], [4, 8, 8], H_OUT, W_OUT,
                                     track_num=n).numpy()
    want = expected_positions(path, vis, W_OUT, H_OUT)[perm]
    result["pos_embeddings_equal"] = bool(np.array_equal(pos, want))

    vae = tiny_wan_vae()
    cond = [[torch.zeros(1, 4, 16), {}]]
    pos_c, neg_c, latent = core.WanMoveTrackToVideo.execute(cond, cond, vae, W_OUT, H_OUT, LENGTH, 1, 1.0,
                                                            tracks=tracks, start_image=start).args
    video = torch.ones((LENGTH, H_OUT, W_OUT, 3)) * 0.5
    video[:1] = start_out
    plain = vae.encode(video)  # what the conditioning holds without tracks
    got = pos_c[0][1]["concat_latent_image"].detach()
    plain = plain.detach()
    result["latent_shape"] = list(latent["samples"].shape)
    # core's replace_feature writes into the encoded latent in place, so the negative holds it too
    result["negative_has_the_track_features"] = bool(torch.equal(neg_c[0][1]["concat_latent_image"].detach(), got))
    # every cell a visible track reaches at latent frame k >= 1 holds the feature of the track's
    # frame-0 cell (one of them where tracks meet); every other cell keeps the plain encoding
    allpos = expected_positions(path, vis, W_OUT, H_OUT)
    sources: dict = {}
    for i in range(n):
        r0, c0 = allpos[i, 0]
        if r0 < 0:
            continue
        for k in range(1, allpos.shape[1]):
            r, c = allpos[i, k]
            if r >= 0:
                sources.setdefault((k, int(r), int(c)), []).append((int(r0), int(c0)))
    bad_target = 0
    for (k, r, c), srcs in sources.items():
        from_a_source = any(torch.allclose(got[0, :, k, r, c], plain[0, :, 0, r0, c0], atol=1e-6) for r0, c0 in srcs)
        if not torch.isfinite(plain).all() or not from_a_source:
            bad_target += 1
    untouched = torch.ones(got.shape[2:], dtype=torch.bool)
    untouched[0] = False  # frame 0 is never replaced; compare it too
    for (k, r, c) in sources:
        untouched[k, r, c] = False
    diff_elsewhere = float((got - plain).abs().amax(1)[0][untouched].max())
    frame0 = float((got[0, :, 0] - plain[0, :, 0]).abs().max())
    result.update({"targets": len(sources), "targets_without_their_source": bad_target,
                   "max_diff_elsewhere": diff_elsewhere, "frame0_max_diff": frame0})

    text, _ = wan.LeviTorATITracks.execute(ts, W_OUT, H_OUT, "off", 4, 0).args
    ati_pos, _, ati_latent = WanTrackToVideo.execute(cond, cond, vae, text, W_OUT, H_OUT, LENGTH, 1, 220.0, 2,
                                                     start_image=start).args
    result["ati_tracks"] = len(json.loads(text))
    result["ati_latent_shape"] = list(ati_latent["samples"].shape)
    result["ati_concat_shape"] = list(ati_pos[0][1]["concat_latent_image"].shape)

    result["ok"] = (result["pos_embeddings_equal"] and bad_target == 0 and diff_elsewhere <= 1e-6 and frame0 <= 1e-6
                    and len(sources) > 0 and result["hidden_some_frames"] > 0 and list(vis.shape) == [LENGTH, n]
                    and result["visualised_shape"] == [LENGTH, H_OUT, W_OUT, 3]
                    and result["latent_shape"] == [1, 16, (LENGTH - 1) // 4 + 1, H_OUT // 8, W_OUT // 8]
                    and result["ati_tracks"] == 4 and result["ati_concat_shape"][1] == 16)
    return result


def check_minimum(wan_module, log_lines: list) -> dict:
    from comfy_api.latest import io

    names = [cls.GET_SCHEMA().node_id for cls in wan_module.NODES]
    ts = scene(wan_module.TrackSet)
    text, preview = wan_module.LeviTorATITracks.execute(ts, W_OUT, H_OUT, "off", 3, 2).args
    why = [m for m in log_lines if "LeviTorWanMoveTracks is not available" in m]
    return {"tracks_type": hasattr(io, "Tracks"), "nodes": names, "log": why, "ati_tracks": len(json.loads(text)),
            "ok": not hasattr(io, "Tracks") and names == ["LeviTorATITracks"] and len(why) == 1
            and len(json.loads(text)) == 5}


def write_strip(wan, work: Path) -> dict:
    import comfy.utils
    from comfy_extras import nodes_wanmove as core
    from PIL import Image

    from levitor.assets.demo_scene import make_demo_scene

    demo = make_demo_scene(288, 512)
    ts = wan.TrackSet(image=demo.image, depth=demo.depth, object_masks=demo.object_masks,
                      static_masks=demo.static_masks, tracks=demo.tracks)
    width, height = 480, 832
    tracks, _ = wan.LeviTorWanMoveTracks.execute(ts, 81, width, height, "off", 24, 12).args
    start = torch.from_numpy(demo.image.astype(np.float32) / 255.0)[None]
    start = comfy.utils.common_upscale(start.movedim(-1, 1), width, height, "bilinear", "center").movedim(1, -1)
    frames = core.WanMoveVisualizeTracks.execute(start, 24, 10, 0.75, 12, tracks=tracks).args[0]
    picks = list(range(0, 81, 10))
    tiles = [(frames[t].numpy() * 255).round().astype(np.uint8) for t in picks]
    small = [np.asarray(Image.fromarray(t).resize((width // 2, height // 2), Image.BILINEAR)) for t in tiles]
    gap = np.full((height // 2, 4, 3), 255, np.uint8)
    strip = np.concatenate([x for t in small for x in (t, gap)][:-1], axis=1)
    target = work / "wan_tracks_strip.png"
    Image.fromarray(strip).save(target, optimize=True)
    vis = tracks["track_visibility"].numpy()
    return {"path": str(target), "frames": picks, "tracks": int(vis.shape[1]),
            "hidden_frames_per_track": vis.shape[0] - vis.sum(0).tolist()[0], "ok": target.is_file()}


class _Keep(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def main() -> int:
    comfy_dir, check, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    keep = _Keep()
    logging.getLogger().addHandler(keep)
    logging.getLogger().setLevel(logging.INFO)
    setup(comfy_dir, [])
    import importlib

    import levitor_pack.nodes as pack_nodes

    wan = importlib.import_module("levitor_pack.nodes.wan_nodes")
    wan.TrackSet = importlib.import_module("levitor_pack.nodes.sockets").TrackSet
    pack_nodes.node_classes()  # every node module imports on this host
    if check == "current":
        result = check_current(wan, work)
    elif check == "minimum":
        result = check_minimum(wan, keep.lines)
    elif check == "strip":
        result = write_strip(wan, work)
    else:
        raise SystemExit(f"unknown check {check!r}")
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
