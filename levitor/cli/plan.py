"""``levitor plan``: image + depth + masks + tracks → per-frame masks, control maps, previews."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..planning.options import PlanOptions
from ..planning.tracks import parse_tracks

DEFAULTS = PlanOptions()


def add_plan_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """The scene and planning arguments shared by ``plan`` and ``generate``."""
    g = parser.add_argument_group("scene")
    g.add_argument("--image", required=required, help="start image (PNG/JPEG)")
    g.add_argument("--depth", required=required,
                   help="depth map: 8-bit PNG of disparity d8 (near = bright), a 16-bit/float disparity image, "
                        "or .npy (reference depth in (0,1], or raw disparity)")
    g.add_argument("--depth-kind", default="auto", choices=["auto", "reference", "disparity", "disparity8"],
                   help="how to read --depth (default: guess from the file)")
    g.add_argument("--masks", nargs="+", required=required, metavar="MASK",
                   help="object mask PNGs, in the order of the tracks")
    g.add_argument("--static", nargs="*", default=[], metavar="MASK",
                   help="static segment mask PNGs, in SAM automatic-mask order")
    g.add_argument("--tracks", required=required, help="tracks JSON file (see docs/architecture.md)")
    g.add_argument("--camera", default=None, metavar="TRACK",
                   help="tracks JSON file with one track that moves the background (everything outside the masks), "
                        "for a camera move")
    p = parser.add_argument_group("planning")
    p.add_argument("--frames", type=int, default=DEFAULTS.num_frames,
                   help=f"number of frames (default {DEFAULTS.num_frames})")
    p.add_argument("--ratio", type=float, default=DEFAULTS.ratio,
                   help="control point density: small = few points (non-rigid), large = many (rigid)")
    p.add_argument("--radius", type=int, default=DEFAULTS.radius,
                   help=f"heatmap patch half-size in pixels (default {DEFAULTS.radius})")
    p.add_argument("--no-id", action="store_true", help="zero the instance-id channel")
    p.add_argument("--no-depth", action="store_true", help="zero the depth channel")
    p.add_argument("--device", default=None, help="torch device for rendering (default cpu)")


def plan_from_args(args: argparse.Namespace):
    """Load the inputs named by ``args`` and run :func:`levitor.planning.plan.build_plan`."""
    from ..planning.plan import build_plan
    from ..video_io import load_depth, load_image, load_mask

    image = load_image(args.image)
    depth = load_depth(args.depth, args.depth_kind)
    masks = [load_mask(m) for m in args.masks]
    static = [load_mask(m) for m in args.static]
    tracks = _read_tracks(args.tracks, image)
    camera = None
    if getattr(args, "camera", None):
        camera = _read_tracks(args.camera, image)
        if len(camera) != 1:
            raise ValueError(f"{args.camera}: --camera takes a tracks file with one track, it has {len(camera)}")
        camera = camera[0]
    return build_plan(image, depth, masks, static, tracks, num_frames=args.frames, ratio=args.ratio,
                      radius=args.radius, use_id=not args.no_id, use_depth=not args.no_depth,
                      camera_track=camera, device=args.device)


def _read_tracks(path: str, image: np.ndarray) -> list:
    tracks_path = Path(path)
    if not tracks_path.is_file():
        raise ValueError(f"tracks file not found: {tracks_path}")
    return parse_tracks(tracks_path.read_text(), image_size=(image.shape[1], image.shape[0]),
                        name=str(tracks_path))


def write_plan_outputs(plan, out: Path, *, fps: float = 6.0, video_format: str = "mp4") -> dict[str, Path]:
    """Write the plan's control maps (``control.npy``), keypoints (``keypoints.json``), label maps
    (``labels.npy``), preview video and preview PNG frames into ``out``."""
    from ..preview import render_preview
    from ..video_io import write_frames, write_video

    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    paths["control"] = out / "control.npy"
    np.save(paths["control"], plan.control)
    paths["labels"] = out / "labels.npy"
    np.save(paths["labels"], plan.labels)
    paths["keypoints"] = out / "keypoints.json"
    paths["keypoints"].write_text(json.dumps([k.tolist() for k in plan.keypoints]))
    frames = render_preview(plan)
    paths["preview"] = write_video(frames, out / f"preview.{video_format}", fps=fps)
    write_frames(frames, out / "frames", prefix="preview")
    paths["frames"] = out / "frames"
    return paths


def add_parser(sub) -> None:
    parser = sub.add_parser("plan", help="plan object motion: masks, control maps and a preview video",
                            description=__doc__)
    add_plan_arguments(parser)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--fps", type=float, default=6.0, help="preview video frame rate")
    parser.add_argument("--format", choices=["mp4", "gif"], default="mp4", help="preview video format")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    paths = write_plan_outputs(plan, Path(args.out), fps=args.fps, video_format=args.format)
    for w in plan.warnings:
        print(f"warning: {w}")
    n_points = sum(len(k) for k in plan.keypoints)
    print(f"planned {plan.num_frames} frames, {n_points} control points; preview: {paths['preview']}")
    return 0
