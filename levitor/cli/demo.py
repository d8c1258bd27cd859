"""``levitor demo``: plan the shipped example scene and write its preview video."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import limits
from ..planning.options import PlanOptions
from .checks import PREVIEW_HELP, PREVIEWS, bounded, path_arg

DEFAULTS = PlanOptions()
DESCRIPTION = "LeviTor demo: a ball passes behind a pillar, then comes out nearer to the camera."


def demo_scene_args() -> dict:
    """The scene arguments (as ``levitor plan`` takes them) of the shipped example scene."""
    from ..assets.demo_scene import ASSET_DIR

    statics = sorted(ASSET_DIR.glob("static_*.png"), key=lambda p: int(p.stem.split("_")[1]))
    objects = sorted(ASSET_DIR.glob("object_*.png"), key=lambda p: int(p.stem.split("_")[1]))
    return dict(image=str(ASSET_DIR / "image.png"), depth=str(ASSET_DIR / "disparity8.png"),
                depth_kind="disparity8", masks=[str(p) for p in objects], static=[str(p) for p in statics],
                tracks=str(ASSET_DIR / "tracks.json"))


def add_parser(sub) -> None:
    parser = sub.add_parser("demo", help="run the planning stage on the shipped example scene",
                            description=__doc__)
    parser.add_argument("--out", type=path_arg("--out"), default="levitor_demo",
                        help="output folder (default ./levitor_demo)")
    parser.add_argument("--frames", type=bounded(limits.NUM_FRAMES, "--frames"), default=DEFAULTS.num_frames,
                        help=f"number of frames (default {DEFAULTS.num_frames})")
    parser.add_argument("--format", choices=["mp4", "gif"], default="mp4", help="preview video format")
    parser.add_argument("--preview", choices=PREVIEWS, default="masks", help=PREVIEW_HELP)
    parser.add_argument("--device", default=None, help="torch device for rendering (default cpu)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .scene import check_plan_outputs, plan_from_args, write_plan_outputs

    plan_args = argparse.Namespace(**demo_scene_args(), frames=args.frames, ratio=DEFAULTS.ratio,
                                   radius=DEFAULTS.radius, no_id=False, no_depth=False, device=args.device,
                                   camera=None, resize=None, crop=False)
    out = Path(args.out)
    check_plan_outputs(out, args.format)
    plan = plan_from_args(plan_args)
    paths = write_plan_outputs(plan, out, video_format=args.format, preview=args.preview)
    print(DESCRIPTION)
    for w in plan.warnings:
        print(f"warning: {w}")
    print(f"{plan.num_frames} frames, {sum(len(k) for k in plan.keypoints)} control points")
    for name in ("preview", "frames", "control", "keypoints"):
        print(f"  {name:9s} {paths[name]}")
    return 0
