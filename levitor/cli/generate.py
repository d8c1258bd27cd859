"""``levitor generate``: plan the object motion and render the video with SVD-xt + the LeviTor ControlNet.

Either give the scene (``--image --depth --masks [--static] --tracks``, as for ``levitor plan``) or
an image plus the ``control.npy`` written by ``levitor plan`` (``--image --control``). ``--device``
is used for planning and sampling.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..generation.options import (
    DEFAULT_OFFLOAD,
    DEFAULT_PRECISION,
    DEFAULT_TEMPORAL_CONTEXT,
    OFFLOAD_HELP,
    OFFLOAD_MODES,
    PRECISION_HELP,
    PRECISIONS,
    TEMPORAL_CONTEXT_HELP,
    TEMPORAL_CONTEXTS,
)
from .plan import add_plan_arguments, plan_from_args


def add_parser(sub) -> None:
    parser = sub.add_parser("generate", help="plan and generate the video (SVD-xt + LeviTor ControlNet)",
                            description=__doc__)
    add_plan_arguments(parser, required=False)
    g = parser.add_argument_group("generation")
    g.add_argument("--control", default=None,
                   help="control maps (F,3,H,W) .npy from `levitor plan`; replaces the scene arguments except --image")
    g.add_argument("--svd", required=True,
                   help="stable-video-diffusion-img2vid-xt folder (diffusers layout) or its hub id")
    g.add_argument("--controlnet", required=True,
                   help="LeviTor controlnet/ folder (config.json + diffusion_pytorch_model.safetensors) or a .safetensors file")
    g.add_argument("--out", required=True, help="output video path (.mp4, .gif or .webp)")
    g.add_argument("--frames-dir", default=None, help="also write the frames as PNGs into this folder")
    g.add_argument("--steps", type=int, default=25, help="sampling steps (default 25)")
    g.add_argument("--seed", type=int, default=217, help="noise seed (default 217, the reference's)")
    g.add_argument("--precision", default=DEFAULT_PRECISION, choices=PRECISIONS, help=PRECISION_HELP)
    g.add_argument("--offload", default=DEFAULT_OFFLOAD, choices=OFFLOAD_MODES, help=OFFLOAD_HELP)
    g.add_argument("--temporal-context", default=DEFAULT_TEMPORAL_CONTEXT, choices=TEMPORAL_CONTEXTS,
                   help=TEMPORAL_CONTEXT_HELP)
    g.add_argument("--fps", type=int, default=6, help="frame rate: conditioning (as fps-1) and output video (default 6)")
    g.add_argument("--motion-bucket", type=int, default=100, help="SVD motion bucket id (default 100)")
    g.add_argument("--control-scale", type=float, default=1.0, help="ControlNet residual scale (default 1.0)")
    g.add_argument("--min-guidance", type=float, default=1.0, help="guidance of the first frame (default 1.0)")
    g.add_argument("--max-guidance", type=float, default=3.0, help="guidance of the last frame (default 3.0)")
    g.add_argument("--noise-aug", type=float, default=0.02, help="noise added to the conditioning image (default 0.02)")
    g.add_argument("--decode-chunk-size", type=int, default=None, help="frames per VAE decode call (default all)")
    parser.set_defaults(run=run)


def _load_control(args: argparse.Namespace):
    """Return ``(image, control)`` from ``--control`` or by planning the scene."""
    if args.control:
        if not args.image:
            raise ValueError("--control needs --image (the image the control maps were planned on)")
        from ..video_io import load_image

        path = Path(args.control)
        if not path.is_file():
            raise ValueError(f"control file not found: {path}")
        control = np.load(path, allow_pickle=False)
        return load_image(args.image), control
    missing = [f"--{n}" for n in ("image", "depth", "masks", "tracks") if not getattr(args, n)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}: give the scene to plan, or --image with --control control.npy")
    plan = plan_from_args(args)
    for w in plan.warnings:
        print(f"warning: {w}")
    return plan.scene.image, plan.control


def run(args: argparse.Namespace) -> int:
    """Plan (or load the control maps), sample the video and write it to ``--out``."""
    out = Path(args.out)
    if out.suffix.lower() not in (".mp4", ".gif", ".webp"):
        raise ValueError(f"--out must end in .mp4, .gif or .webp, got {out.name}")
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    image, control = _load_control(args)

    from tqdm.auto import tqdm

    from ..generation.pipeline import LeviTorPipeline
    from ..video_io import write_frames, write_video

    pipe = LeviTorPipeline.from_pretrained(
        args.svd, args.controlnet, precision=args.precision, offload=args.offload, device=args.device,
        temporal_context=args.temporal_context,
    )
    pipe.set_progress_bar_config(disable=True)
    bar = tqdm(total=args.steps, desc="sampling", unit="step")

    def on_step(p, step, timestep, kwargs):
        bar.update(1)
        return kwargs

    try:
        frames = pipe(
            image, control, num_inference_steps=args.steps, seed=args.seed, fps=args.fps,
            motion_bucket_id=args.motion_bucket, control_scale=args.control_scale,
            min_guidance_scale=args.min_guidance, max_guidance_scale=args.max_guidance,
            noise_aug_strength=args.noise_aug, decode_chunk_size=args.decode_chunk_size,
            output_type="np", callback_on_step_end=on_step,
        ).frames[0]
    finally:
        bar.close()
    video = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    path = write_video(video, out, fps=args.fps)
    if args.frames_dir:
        write_frames(video, Path(args.frames_dir))
    print(f"wrote {len(video)} frames ({video.shape[2]}x{video.shape[1]}) to {path}")
    return 0
