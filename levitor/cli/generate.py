"""``levitor generate``: plan the object motion and render the video with SVD-xt + the LeviTor ControlNet.

Either give the scene (``--image --depth --masks [--static] --tracks``, as for ``levitor plan``),
``--demo`` for the shipped example scene, or an image plus the ``control.npy`` written by
``levitor plan`` (``--image --control``). ``--device`` is used for planning and sampling. Every
option and file is checked before planning and before the models load.

``--quick`` is a preset for trying the whole path on a CPU (with ``python -m levitor.generation.tiny``):
fewer steps, fewer frames and a smaller working size; explicit ``--steps``/``--frames``/``--resize``
win over it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .. import limits
from ..generation.options import (
    DEFAULT_OFFLOAD,
    DEFAULT_PRECISION,
    DEFAULT_TEMPORAL_CONTEXT,
    OFFLOAD_HELP,
    OFFLOAD_MODES,
    PRECISION_HELP,
    PRECISIONS,
    SAMPLING,
    TEMPORAL_CONTEXT_HELP,
    TEMPORAL_CONTEXTS,
)
from .checks import bounded, check_device, check_generation_size, check_writable, path_arg
from .demo import demo_scene_args
from .plan import add_plan_arguments

VIDEO_SUFFIXES = (".mp4", ".gif", ".webp")
DEFAULT_STEPS = SAMPLING.num_inference_steps
# --quick: a few steps on a few small frames (144x256 for the demo scene).
# One CPU thread: on tiny models, thread synchronisation costs more than it gains, and badly so
# when the cores are shared with other work.
QUICK = {"steps": 4, "frames": 8, "max_side": 256, "threads": 1}
SCENE_FLAGS = ("image", "depth", "masks", "tracks")
# Sampling settings: flag, bound (levitor.limits), default (the library's SAMPLING), help.
SETTINGS = [
    ("--fps", limits.FPS, SAMPLING.fps, "frame rate: conditioning (as fps-1) and output video"),
    ("--motion-bucket", limits.MOTION_BUCKET_ID, SAMPLING.motion_bucket_id, "SVD motion bucket id"),
    ("--control-scale", limits.CONTROL_SCALE, SAMPLING.control_scale, "ControlNet residual scale"),
    ("--min-guidance", limits.GUIDANCE, SAMPLING.min_guidance_scale, "guidance of the first frame"),
    ("--max-guidance", limits.GUIDANCE, SAMPLING.max_guidance_scale, "guidance of the last frame"),
    ("--noise-aug", limits.NOISE_AUG_STRENGTH, SAMPLING.noise_aug_strength, "noise added to the conditioning image"),
    ("--decode-chunk-size", limits.DECODE_CHUNK_SIZE, 0, "frames per VAE decode call, 0 = all"),
]
FRAME_PREFIX = "frame"


def add_parser(sub) -> None:
    parser = sub.add_parser("generate", help="plan and generate the video (SVD-xt + LeviTor ControlNet)",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_plan_arguments(parser, required=False)
    g = parser.add_argument_group("generation")
    g.add_argument("--demo", action="store_true", help="use the shipped example scene (no scene arguments)")
    g.add_argument("--quick", action="store_true",
                   help=f"quick preset: {QUICK['steps']} steps, {QUICK['frames']} frames, long side at most "
                        f"{QUICK['max_side']} px (try the path on a CPU with tiny models)")
    g.add_argument("--threads", type=_threads, default=None,
                   help=f"CPU threads for torch (default: torch's choice; --quick {QUICK['threads']})")
    g.add_argument("--control", type=path_arg("--control"), default=None,
                   help="control maps (F,3,H,W) .npy from `levitor plan`; replaces the scene arguments except --image")
    g.add_argument("--svd", type=path_arg("--svd"), required=True,
                   help="stable-video-diffusion-img2vid-xt folder (diffusers layout), its hub id, or the "
                        "single file svd_xt.safetensors")
    g.add_argument("--controlnet", type=path_arg("--controlnet"), required=True,
                   help="LeviTor controlnet/ folder (config.json + diffusion_pytorch_model.safetensors) or a .safetensors file")
    g.add_argument("--out", type=path_arg("--out"), required=True, help="output video path (.mp4, .gif or .webp)")
    g.add_argument("--frames-dir", type=path_arg("--frames-dir"), default=None,
                   help="also write the frames as PNGs into this folder (replaced each run)")
    g.add_argument("--steps", type=bounded(limits.STEPS, "--steps"), default=None,
                   help=f"sampling steps (default {DEFAULT_STEPS}, --quick {QUICK['steps']})")
    g.add_argument("--seed", type=bounded(limits.SEED, "--seed"), default=SAMPLING.seed,
                   help=f"noise seed (default {SAMPLING.seed}, the reference's)")
    g.add_argument("--precision", default=DEFAULT_PRECISION, choices=PRECISIONS, help=PRECISION_HELP)
    g.add_argument("--offload", default=DEFAULT_OFFLOAD, choices=OFFLOAD_MODES, help=OFFLOAD_HELP)
    g.add_argument("--temporal-context", default=DEFAULT_TEMPORAL_CONTEXT, choices=TEMPORAL_CONTEXTS,
                   help=TEMPORAL_CONTEXT_HELP)
    for flag, bound, default, text in SETTINGS:
        g.add_argument(flag, type=bounded(bound, flag), default=default, help=f"{text} (default {default})")
    parser.set_defaults(run=run)


def _threads(text: str) -> int:
    cores = os.cpu_count() or 1
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= cores:
        raise argparse.ArgumentTypeError(f"--threads must be an integer in [1, {cores}] (this machine's cores), "
                                         f"got {text!r}")
    return n


def _check_outputs(args: argparse.Namespace) -> Path:
    from ..io.media import check_frames_folder

    out = Path(args.out)
    if out.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"--out must end in .mp4, .gif or .webp, got {out.name}")
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a video file path such as {out / 'video.mp4'}")
    check_writable(out, "--out")
    if args.frames_dir:
        check_frames_folder(args.frames_dir, FRAME_PREFIX, what=f"--frames-dir {args.frames_dir}")
        check_writable(Path(args.frames_dir), "--frames-dir")
    return out


def _check_models(args: argparse.Namespace) -> None:
    """The model paths exist and have the right layout (without loading anything)."""
    from ..generation.loading import CONTROLNET_WEIGHTS, resolve_svd_folder

    svd = Path(args.svd).expanduser()
    # "owner/name" is a hub id unless "owner" is a local folder (then it is a mistyped path)
    hub_id = args.svd.count("/") == 1 and not svd.suffix and not svd.parent.is_dir()
    if svd.is_dir():
        try:
            resolve_svd_folder(svd)
        except ValueError as exc:
            raise ValueError(f"--svd: {exc}") from None
    elif svd.is_file():
        from ..generation.single_file import check_single_file

        check_single_file(svd)  # reads the header only
    elif not svd.exists() and not hub_id:
        raise ValueError(f"--svd {args.svd} does not exist; pass the stable-video-diffusion-img2vid-xt folder "
                         "(the one holding model_index.json)")
    cn = Path(args.controlnet).expanduser()
    if not cn.exists():
        raise ValueError(f"--controlnet {args.controlnet} does not exist; pass the LeviTor controlnet/ folder "
                         "(config.json + diffusion_pytorch_model.safetensors) or a .safetensors file")
    if cn.is_dir() and not (cn / "config.json").is_file():
        raise ValueError(f"--controlnet {args.controlnet} has no config.json; pass the whole controlnet/ folder")
    weights = (CONTROLNET_WEIGHTS, CONTROLNET_WEIGHTS.replace(".safetensors", ".fp16.safetensors"))
    if cn.is_dir() and not any((cn / w).is_file() for w in weights):
        raise ValueError(f"--controlnet {args.controlnet} has no {CONTROLNET_WEIGHTS}; download it (pickled .bin "
                         "files are not loaded)")
    if cn.is_file() and cn.suffix != ".safetensors":
        raise ValueError(f"--controlnet {args.controlnet} is not a .safetensors file")


def _scene_args(args: argparse.Namespace) -> None:
    if args.demo:
        given = [f"--{n}" for n in SCENE_FLAGS if getattr(args, n)] + (["--control"] if args.control else [])
        if given:
            raise ValueError(f"--demo uses the shipped scene; drop {', '.join(given)}")
        for key, value in demo_scene_args().items():
            setattr(args, key, value)


def _prepare(args: argparse.Namespace):
    """Every check, then ``(image, control, warnings)``: the control maps loaded or planned."""
    from ..io.media import load_array, load_image
    from . import scene

    max_side = QUICK["max_side"] if args.quick else None
    if args.frames is None and args.quick:
        args.frames = QUICK["frames"]
    if args.control:
        if not args.image:
            raise ValueError("--control needs --image (the image the control maps were planned on)")
        if args.resize or args.crop:
            raise ValueError("--resize/--crop apply to a scene; --control maps are used at the size they were planned")
        path = Path(args.control)
        image = load_image(args.image)
        h, w = image.shape[:2]

        def check_shape(shape):  # from the header, before the maps are read
            if len(shape) != 4 or shape[1] != 3 or shape[2:] != (h, w):
                raise ValueError(f"--control {path} has shape {shape}, expected (frames, 3, {h}, {w}) for "
                                 f"the {w}x{h} --image")
            check_generation_size(w, h, shape[0])
            limits.check_plan_size(shape[0], w, h)

        control = load_array(path, "--control", check_shape)
        check_device(args.device)
        return image, control, []
    missing = [f"--{n}" for n in SCENE_FLAGS if not getattr(args, n)]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}: give the scene to plan, --demo, or --image with "
                         "--control control.npy")
    inputs = scene.load_scene_inputs(args, max_side=max_side)
    flag = "--resize" if args.resize else "--image"
    check_generation_size(*inputs.size, scene.frames_of(args), flag=flag)
    scene.check_plan_inputs(inputs, args)
    plan = scene.plan_inputs(inputs, args)
    return plan.scene.image, plan.control, plan.warnings


def run(args: argparse.Namespace) -> int:
    """Check everything, plan (or load the control maps), sample the video and write it to ``--out``."""
    out = _check_outputs(args)
    _scene_args(args)
    _check_models(args)
    check_device(args.device)
    if args.min_guidance > args.max_guidance:
        raise ValueError(f"--min-guidance {args.min_guidance:g} is above --max-guidance {args.max_guidance:g}")
    steps = args.steps if args.steps is not None else (QUICK["steps"] if args.quick else DEFAULT_STEPS)
    threads = args.threads if args.threads is not None else (QUICK["threads"] if args.quick else None)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    image, control, notes = _prepare(args)
    for w in notes:
        print(f"warning: {w}")

    import numpy as np
    from tqdm.auto import tqdm

    from ..generation.pipeline import LeviTorPipeline
    from ..io.media import write_frames, write_video

    pipe = LeviTorPipeline.from_pretrained(
        args.svd, args.controlnet, precision=args.precision, offload=args.offload, device=args.device,
        temporal_context=args.temporal_context,
    )
    pipe.set_progress_bar_config(disable=True)
    bar = tqdm(total=steps, desc="sampling", unit="step")

    def on_step(p, step, timestep, kwargs):
        bar.update(1)
        return kwargs

    try:
        frames = pipe(
            image, control, num_inference_steps=steps, seed=args.seed, fps=args.fps,
            motion_bucket_id=args.motion_bucket, control_scale=args.control_scale,
            min_guidance_scale=args.min_guidance, max_guidance_scale=args.max_guidance,
            noise_aug_strength=args.noise_aug, decode_chunk_size=args.decode_chunk_size or None,
            output_type="np", callback_on_step_end=on_step,
        ).frames[0]
    finally:
        bar.close()
    video = (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    path = write_video(video, out, fps=args.fps)
    if args.frames_dir:
        write_frames(video, Path(args.frames_dir), prefix=FRAME_PREFIX)
    print(f"wrote {len(video)} frames ({video.shape[2]}x{video.shape[1]}) to {path}")
    return 0
