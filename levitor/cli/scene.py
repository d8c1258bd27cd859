"""The scene a command names: its files read and checked, resized or cropped, planned, and the
plan's outputs written. Loaded when ``levitor plan``, ``demo`` or ``generate`` runs (it brings
NumPy and Pillow; the planner, with torch, loads when planning starts), never to parse arguments."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .. import limits
from ..io.atomic import atomic_path
from ..io.media import check_frames_folder, load_depth, load_image, load_mask
from ..planning.options import PlanOptions
from ..planning.scene import depth_warnings, mask_warnings
from ..planning.tracks import parse_tracks, scale_tracks, shift_tracks
from .checks import PREVIEWS, RESIZE_FIT, check_device, check_writable, crop_size, fit_size

DEFAULTS = PlanOptions()
PREVIEW_PREFIX = "preview"


@dataclass
class SceneInputs:
    """The loaded scene at the size it will be planned at, with the warnings about it."""

    image: np.ndarray
    depth: np.ndarray
    masks: list[np.ndarray]
    static: list[np.ndarray]
    tracks: list
    camera: list | None
    source_size: tuple[int, int]
    warnings: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])


def _same_size(array: np.ndarray, flag: str, path: str, size: tuple[int, int]) -> None:
    h, w = np.asarray(array).shape[:2]
    if (w, h) != size:
        raise ValueError(f"{flag} {path} is {w}x{h} but --image is {size[0]}x{size[1]}; give maps of the image's size")


def _resize(array: np.ndarray, size: tuple[int, int], *, smooth: bool) -> np.ndarray:
    if array.dtype == bool:
        img = Image.fromarray(array.astype(np.uint8) * 255)
        return np.asarray(img.resize(size, Image.Resampling.NEAREST)) > 127
    if array.dtype == np.uint8:
        method = Image.Resampling.LANCZOS if smooth else Image.Resampling.NEAREST
        return np.asarray(Image.fromarray(array).resize(size, method))
    # float maps (reference depth): nearest, so depth edges stay on the mask edges
    return np.asarray(Image.fromarray(array.astype(np.float32)).resize(size, Image.Resampling.NEAREST)).astype(array.dtype)


def target_size(size: tuple[int, int], resize, crop: bool, max_side: int | None = None) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """``(size to plan at, crop offset or None)`` for ``--resize`` / ``--crop`` (and a preset's ``max_side``)."""
    w, h = size
    if crop:
        cw, ch = crop_size(w, h)
        if max_side is not None and max(cw, ch) > max_side:
            raise ValueError(f"--crop keeps {cw}x{ch}, larger than this preset's {max_side} px; use --resize instead")
        return (cw, ch), ((w - cw) // 2, (h - ch) // 2)
    if resize == RESIZE_FIT or (resize is None and max_side is not None):
        return fit_size(w, h, max_side=max_side), None
    if resize is not None:
        return tuple(resize), None
    return (w, h), None


def load_scene_inputs(args: argparse.Namespace, *, max_side: int | None = None) -> SceneInputs:
    """Read and check every scene file named by ``args``, then resize or crop the scene as asked.

    Fast: nothing is planned. Errors name the flag and the file.
    """
    image = load_image(args.image)
    source = (int(image.shape[1]), int(image.shape[0]))
    depth, depth_source = load_depth(args.depth, args.depth_kind, with_source=True)
    _same_size(depth, "--depth", args.depth, source)
    masks = [load_mask(m) for m in args.masks]
    static = [load_mask(m) for m in args.static]
    for flag, paths, arrays in (("--masks", args.masks, masks), ("--static", args.static, static)):
        for path, m in zip(paths, arrays):
            _same_size(m, flag, path, source)
    for path, m in zip(args.masks, masks):
        if not m.any():
            raise ValueError(f"--masks {path} selects no pixel (an all-black mask); every moved object needs pixels")
    tracks = _read_tracks(args.tracks, "--tracks", source)
    camera = None
    if getattr(args, "camera", None):
        camera = _read_tracks(args.camera, "--camera", source)
        if len(camera) != 1:
            raise ValueError(f"{args.camera}: --camera takes a tracks file with one track, it has {len(camera)}")

    notes = depth_warnings(depth, image, source=depth_source, name=f"--depth {args.depth}")
    notes += mask_warnings(masks, static, object_names=list(args.masks), static_names=list(args.static))

    size, offset = target_size(source, getattr(args, "resize", None), getattr(args, "crop", False), max_side)
    if offset is not None:
        x0, y0 = offset
        w, h = size
        image, depth = image[y0:y0 + h, x0:x0 + w], depth[y0:y0 + h, x0:x0 + w]
        masks = [m[y0:y0 + h, x0:x0 + w] for m in masks]
        static = [m[y0:y0 + h, x0:x0 + w] for m in static]
        tracks = shift_tracks(tracks, -x0, -y0)
        camera = None if camera is None else shift_tracks(camera, -x0, -y0)
    elif size != source:
        image = _resize(image, size, smooth=True)
        depth = _resize(depth, size, smooth=False)
        masks = [_resize(m, size, smooth=False) for m in masks]
        static = [_resize(m, size, smooth=False) for m in static]
        tracks = scale_tracks(tracks, source, size)
        camera = None if camera is None else scale_tracks(camera, source, size)
    for path, m in zip(args.masks, masks):
        if not m.any():
            raise ValueError(f"--masks {path} selects no pixel at {size[0]}x{size[1]}; the object is too small "
                             "for this --resize/--crop")
    return SceneInputs(image=image, depth=depth, masks=masks, static=static, tracks=tracks,
                       camera=None if camera is None else camera[0], source_size=source, warnings=notes)


def _read_tracks(path: str, flag: str, size: tuple[int, int]) -> list:
    tracks_path = Path(path)
    if not tracks_path.is_file():
        raise ValueError(f"{flag} file not found: {tracks_path}")
    return parse_tracks(tracks_path.read_text(), image_size=size, name=str(tracks_path))


def frames_of(args: argparse.Namespace) -> int:
    return DEFAULTS.num_frames if args.frames is None else args.frames


def check_plan_inputs(inputs: SceneInputs, args: argparse.Namespace) -> None:
    """Bounds of the whole plan (image size, frames x pixels) and the device, before planning."""
    w, h = inputs.size
    try:
        limits.check_image_size(w, h, "--image")
    except ValueError as exc:
        raise ValueError(f"{exc}, or pass --resize fit") from None
    try:
        limits.check_plan_size(frames_of(args), w, h)
    except ValueError as exc:
        raise ValueError(str(exc).replace("num_frames", "--frames", 1)) from None
    check_device(args.device)


def plan_inputs(inputs: SceneInputs, args: argparse.Namespace):
    """Run :func:`levitor.planning.plan.build_plan` on checked inputs (the planner, with torch and
    scikit-learn, loads here: bad inputs are refused before it)."""
    from ..planning.plan import build_plan

    plan = build_plan(inputs.image, inputs.depth, inputs.masks, inputs.static, inputs.tracks,
                      num_frames=frames_of(args), ratio=args.ratio, radius=args.radius, use_id=not args.no_id,
                      use_depth=not args.no_depth, camera_track=inputs.camera, device=args.device)
    # The CLI's own input warnings name the flags; the library's generic copies are dropped.
    plan.warnings[:] = inputs.warnings + [w for w in plan.warnings if w not in plan.scene.input_warnings]
    return plan


def plan_from_args(args: argparse.Namespace, *, max_side: int | None = None):
    """Load the inputs named by ``args``, check them and plan."""
    inputs = load_scene_inputs(args, max_side=max_side)
    check_plan_inputs(inputs, args)
    return plan_inputs(inputs, args)


def check_plan_outputs(out: Path, video_format: str) -> None:
    """Before planning: ``--out`` is (or can become) a folder and its ``frames/`` can be replaced."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")
    check_frames_folder(out / "frames", PREVIEW_PREFIX, what=f"--out {out}: frames/")
    check_writable(out / "frames", "--out")


def preview_frames(plan, preview: str = "masks") -> np.ndarray:
    """The preview video's frames: ``masks`` the label maps, control points and tracks over the
    image; ``warped`` the warped video (the image with the objects moved); ``both`` side by side."""
    from ..planning.preview import render_preview
    from ..planning.warp import warp_render

    if preview not in PREVIEWS:
        raise ValueError(f"--preview must be one of {', '.join(PREVIEWS)}, got {preview!r}")
    parts = []
    if preview in ("masks", "both"):
        parts.append(render_preview(plan))
    if preview in ("warped", "both"):
        parts.append(warp_render(plan).frames)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)


def write_plan_outputs(plan, out: Path, *, fps: float = 6.0, video_format: str = "mp4",
                       preview: str = "masks") -> dict[str, Path]:
    """Write the plan's control maps (``control.npy``), keypoints (``keypoints.json``), label maps
    (``labels.npy``), preview video and preview PNG frames (see :func:`preview_frames`) into
    ``out``, each file atomically; the ``frames/`` folder is replaced as a whole (no stale frames
    from a longer earlier run)."""
    from ..io.media import write_frames, write_video

    frames = preview_frames(plan, preview)
    paths = {"control": out / "control.npy", "labels": out / "labels.npy", "keypoints": out / "keypoints.json"}
    for key, array in (("control", plan.control), ("labels", plan.labels)):
        with atomic_path(paths[key]) as tmp:
            np.save(tmp, array)
    with atomic_path(paths["keypoints"]) as tmp:
        tmp.write_text(json.dumps([k.tolist() for k in plan.keypoints]))
    paths["preview"] = write_video(frames, out / f"preview.{video_format}", fps=fps)
    write_frames(frames, out / "frames", prefix=PREVIEW_PREFIX)
    paths["frames"] = out / "frames"
    return paths
