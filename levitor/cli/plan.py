"""``levitor plan``: image + depth + masks + tracks → per-frame masks, control maps, previews.

This module only declares the arguments (it imports no NumPy, torch or planner, so ``--help`` and
argument errors answer at once); :mod:`.scene` reads, plans and writes when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import limits
from ..planning.options import PlanOptions
from .checks import PREVIEW_HELP, PREVIEWS, bounded, parse_resize, path_arg

DEFAULTS = PlanOptions()


def add_plan_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """The scene and planning arguments shared by ``plan`` and ``generate``."""
    g = parser.add_argument_group("scene")
    g.add_argument("--image", type=path_arg("--image"), required=required,
                   help="start image (PNG/JPEG; 16-bit and float images are scaled)")
    g.add_argument("--depth", type=path_arg("--depth"), required=required,
                   help="depth map: 8-bit PNG of disparity d8 (near = bright), a 16-bit/float disparity image, "
                        "or .npy (reference depth in (0,1], or raw disparity)")
    g.add_argument("--depth-kind", default="auto", choices=["auto", "reference", "disparity", "disparity8"],
                   help="how to read --depth (default: guess from the file)")
    g.add_argument("--masks", type=path_arg("--masks"), nargs="+", required=required, metavar="MASK",
                   help="object mask PNGs, in the order of the tracks")
    g.add_argument("--static", type=path_arg("--static"), nargs="*", default=[], metavar="MASK",
                   help="static segment mask PNGs, in SAM automatic-mask order")
    g.add_argument("--tracks", type=path_arg("--tracks"), required=required,
                   help="tracks JSON file (see docs/architecture.md)")
    g.add_argument("--camera", type=path_arg("--camera"), default=None, metavar="TRACK",
                   help="tracks JSON file with one track that moves the background (everything outside the masks), "
                        "for a camera move")
    size = g.add_mutually_exclusive_group()
    size.add_argument("--resize", type=parse_resize, default=None, metavar="WxH|fit",
                      help="resize image, depth, masks and tracks to WxH (multiples of 8), or 'fit': the largest "
                           "such size within SVD's working size, keeping the aspect ratio")
    size.add_argument("--crop", action="store_true",
                      help="centre-crop the scene to the nearest smaller multiple of 8 in each direction")
    p = parser.add_argument_group("planning")
    p.add_argument("--frames", type=bounded(limits.NUM_FRAMES, "--frames"), default=None,
                   help=f"number of frames (default {DEFAULTS.num_frames})")
    p.add_argument("--ratio", type=bounded(limits.RATIO, "--ratio"), default=DEFAULTS.ratio,
                   help="control point density: small = few points (non-rigid), large = many (rigid)")
    p.add_argument("--radius", type=bounded(limits.RADIUS, "--radius"), default=DEFAULTS.radius,
                   help=f"heatmap patch half-size in pixels (default {DEFAULTS.radius})")
    p.add_argument("--no-id", action="store_true", help="zero the instance-id channel")
    p.add_argument("--no-depth", action="store_true", help="zero the depth channel")
    p.add_argument("--device", default=None, help="torch device for rendering (default cpu): cpu, cuda, cuda:1, mps")


def add_parser(sub) -> None:
    parser = sub.add_parser("plan", help="plan object motion: masks, control maps and a preview video",
                            description=__doc__.split("\n\n")[0])
    add_plan_arguments(parser)
    parser.add_argument("--out", type=path_arg("--out"), required=True, help="output folder")
    parser.add_argument("--fps", type=bounded(limits.FPS, "--fps"), default=6, help="preview video frame rate")
    parser.add_argument("--format", choices=["mp4", "gif"], default="mp4", help="preview video format")
    parser.add_argument("--preview", choices=PREVIEWS, default="masks", help=PREVIEW_HELP)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from . import scene

    out = Path(args.out)
    scene.check_plan_outputs(out, args.format)
    inputs = scene.load_scene_inputs(args)
    scene.check_plan_inputs(inputs, args)
    k = limits.SIZE_MULTIPLE
    w, h = inputs.size
    if w % k or h % k:
        inputs.warnings.append(f"the scene is {w}x{h}: `levitor generate` needs multiples of {k}; plan again "
                               "with --crop or --resize to use these control maps for generation")
    plan = scene.plan_inputs(inputs, args)
    paths = scene.write_plan_outputs(plan, out, fps=args.fps, video_format=args.format, preview=args.preview)
    for w_ in plan.warnings:
        print(f"warning: {w_}")
    n_points = sum(len(k) for k in plan.keypoints)
    print(f"planned {plan.num_frames} frames, {n_points} control points; preview: {paths['preview']}")
    return 0
