"""Training clips: crop and resize, per-frame depth, and the control maps the model will see.

A clip is ``F`` consecutive annotated frames of a video. Frames, instance labels and 8-bit
disparity are centre-cropped to the training aspect and resized; every frame's disparity is
turned into reference depth with :func:`levitor.planning.scene.disparity_to_depth` (per frame, as at
inference); the K-means control points (with the clip's own area statistics) and the control maps
come from :func:`levitor.planning.stages.control_stage` -- the stage the planning nodes use.

Depth comes from a :class:`DepthSource`: a folder of precomputed maps (:class:`DepthFolder`) or a
depth estimator whose output is cached on disk as 8-bit PNGs (:class:`DepthCache`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..io.media import load_depth
from ..limits import check_read_size
from ..planning.options import PlanOptions
from ..planning.preview import heatmap_preview, render_label_preview
from ..planning.scene import depth_to_disparity8, disparity_to_depth, disparity_to_uint8
from ..planning.stages import control_stage
from .datasets import BadDataError, VideoRecord, relabel_instances


class DepthSource(Protocol):
    """Gives the 8-bit disparity ``(H, W)`` uint8 of an annotated frame of a video."""

    def __call__(self, record: VideoRecord, index: int, frame: np.ndarray) -> np.ndarray: ...


class DepthFolder:
    """Precomputed depth: ``<root>/<video>/<frame key>.{png,npy,npz}`` in any form
    :func:`levitor.io.media.load_depth` reads (8-bit disparity, 16-bit disparity, reference depth)."""

    SUFFIXES = (".png", ".npy", ".npz", ".tif", ".tiff")

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"depth folder not found: {self.root}")

    def path(self, record: VideoRecord, index: int) -> Path:
        key = record.frame_key(index)
        for s in self.SUFFIXES:
            p = self.root / record.name / f"{key}{s}"
            if p.is_file():
                return p
        raise BadDataError(self.root / record.name / f"{key}.png", "depth map is missing")

    def __call__(self, record: VideoRecord, index: int, frame: np.ndarray) -> np.ndarray:
        p = self.path(record, index)
        try:
            depth = load_depth(p)
        except ValueError as exc:
            raise BadDataError(p, str(exc)) from exc
        if depth.shape != frame.shape[:2]:
            raise BadDataError(p, f"depth map is {depth.shape[1]}x{depth.shape[0]} but the frame is "
                                  f"{frame.shape[1]}x{frame.shape[0]}")
        return depth_to_disparity8(depth)


class DepthCache:
    """Depth estimated once per frame and cached as 8-bit PNG ``<cache_dir>/<video>/<frame key>.png``.

    ``estimator`` is any callable ``image (H, W, 3) uint8 -> disparity (H, W)`` (larger = nearer),
    e.g. :class:`levitor.perception.depth.DepthEstimator`. Without one, missing cache entries are
    an error naming the file.
    """

    def __init__(self, cache_dir: str | os.PathLike, estimator: Callable[[np.ndarray], np.ndarray] | None = None):
        self.cache_dir = Path(cache_dir)
        self.estimator = estimator

    def path(self, record: VideoRecord, index: int) -> Path:
        return self.cache_dir / record.name / f"{record.frame_key(index)}.png"

    def has(self, record: VideoRecord, index: int) -> bool:
        return self.path(record, index).is_file()

    def compute(self, record: VideoRecord, index: int, frame: np.ndarray) -> np.ndarray:
        """Estimate, cache (atomically) and return the 8-bit disparity of one frame."""
        from PIL import Image

        if self.estimator is None:
            raise BadDataError(self.path(record, index), "depth is not cached and no depth estimator was given "
                                                         "(pass --depth_model, or --depth_dir with precomputed maps)")
        disp = np.asarray(self.estimator(frame))
        if disp.ndim == 3 and disp.shape[0] == 1:
            disp = disp[0]
        if disp.shape != frame.shape[:2]:
            raise ValueError(f"depth estimator returned shape {disp.shape} for a frame of {frame.shape[:2]}")
        d8 = disparity_to_uint8(disp)
        out = self.path(record, index)
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".png", dir=out.parent)
        os.close(fd)
        try:
            Image.fromarray(d8).save(tmp, format="PNG")
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return d8

    def __call__(self, record: VideoRecord, index: int, frame: np.ndarray) -> np.ndarray:
        from PIL import Image

        p = self.path(record, index)
        if p.is_file():
            try:
                with Image.open(p) as img:
                    check_read_size(*img.size, what="a cached depth map")  # from the header, before decoding
                    d8 = np.asarray(img.convert("L"), dtype=np.uint8)
            except Exception:
                return self.compute(record, index, frame)  # a broken cache entry is recomputed
            if d8.shape == frame.shape[:2]:
                return d8
        return self.compute(record, index, frame)


# ------------------------------------------------------------------------------- geometry


def center_crop_box(height: int, width: int, out_height: int, out_width: int) -> tuple[int, int, int, int]:
    """``(top, left, crop_h, crop_w)``: the largest centred box of aspect ``out_width / out_height``."""
    if min(height, width, out_height, out_width) < 1:
        raise ValueError(f"sizes must be positive, got {width}x{height} -> {out_width}x{out_height}")
    target = out_width / out_height
    if width / height > target:
        crop_h, crop_w = height, max(1, round(height * target))
    else:
        crop_h, crop_w = max(1, round(width / target)), width
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def crop_resize(arrays: np.ndarray, out_height: int, out_width: int, *, nearest: bool = False) -> np.ndarray:
    """Centre-crop ``(F, H, W[, C])`` frames to the aspect of ``out_width x out_height`` and resize."""
    import cv2

    n, height, width = arrays.shape[:3]
    top, left, ch, cw = center_crop_box(height, width, out_height, out_width)
    cropped = arrays[:, top:top + ch, left:left + cw]
    if (ch, cw) == (out_height, out_width):
        return np.ascontiguousarray(cropped)
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if ch > out_height else cv2.INTER_LINEAR
    dtype = arrays.dtype
    work = cropped.astype(np.float32) if dtype not in (np.uint8, np.float32) else cropped
    out = np.stack([cv2.resize(np.ascontiguousarray(f), (out_width, out_height), interpolation=interp)
                    for f in work])
    if out.ndim < arrays.ndim:
        out = out[..., None]
    return out.astype(dtype, copy=False)


# ------------------------------------------------------------------------------------ clips


def _single_threaded():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


@dataclass
class ClipOptions:
    """How a clip is turned into model inputs."""

    width: int = 288
    height: int = 512
    ratio: float = PlanOptions.ratio  # scales every label's k (as the inference "ratio")
    radius: int = PlanOptions.radius  # half-size of a control point's Gaussian patch
    use_id: bool = PlanOptions.use_id
    use_depth: bool = PlanOptions.use_depth
    background_segment: bool = False  # give unannotated pixels a static label (as inference's fill label)
    min_area_frac: float = 0.0  # drop instances never larger than this fraction of the frame


@dataclass
class TrainingClip:
    """One prepared clip: everything the model and the previews need."""

    name: str
    indices: list[int]
    frames: np.ndarray  # (F, H, W, 3) uint8
    labels: np.ndarray  # (F, H, W) int32; objects 1..num_objects, background segment after them
    depths: np.ndarray  # (F, H, W) float64 reference depth
    keypoints: list[np.ndarray]  # per frame (N, 4) int64 [row, col, label, depth_code]
    control: np.ndarray  # (F, 3, H, W) float32
    num_objects: int


def prepare_clip(frames: np.ndarray, labels: np.ndarray, disparity8: np.ndarray, options: ClipOptions = ClipOptions(),
                 *, name: str = "", indices: list[int] | None = None) -> TrainingClip:
    """Turn raw frames ``(F,H,W,3)``, instance labels ``(F,H,W)`` and 8-bit disparity ``(F,H,W)``
    into a :class:`TrainingClip` at ``options.width x options.height``."""
    frames, labels, disparity8 = np.asarray(frames), np.asarray(labels), np.asarray(disparity8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (F, H, W, 3), got {frames.shape}")
    if labels.shape != frames.shape[:3] or disparity8.shape != frames.shape[:3]:
        raise ValueError(f"labels {labels.shape} and disparity {disparity8.shape} must match frames {frames.shape[:3]}")
    h, w = options.height, options.width
    frames_r = crop_resize(frames, h, w)
    labels_r = crop_resize(labels.astype(np.int32), h, w, nearest=True)
    disp_r = crop_resize(disparity8.astype(np.float32), h, w)
    labels_r, n_obj = relabel_instances(labels_r)
    if options.min_area_frac > 0 and n_obj:
        counts = np.stack([np.bincount(f.ravel(), minlength=n_obj + 1) for f in labels_r])[:, 1:]
        small = np.flatnonzero(counts.max(axis=0) <= options.min_area_frac * h * w) + 1
        if len(small):
            labels_r[np.isin(labels_r, small)] = 0
            labels_r, n_obj = relabel_instances(labels_r)
    if options.background_segment:
        labels_r = np.where(labels_r == 0, n_obj + 1, labels_r).astype(np.int32)
    depths = np.stack([disparity_to_depth(d) for d in disp_r])
    with _single_threaded():  # K-means on a few hundred points: thread start-up dominates otherwise
        ctrl = control_stage(labels_r, depths, n_obj, PlanOptions(ratio=options.ratio, radius=options.radius,
                                                                  use_id=options.use_id, use_depth=options.use_depth))
    return TrainingClip(name, list(indices) if indices is not None else list(range(len(frames))),
                        frames_r, labels_r, depths, ctrl.keypoints, ctrl.control, n_obj)


def clip_tensors(clip: TrainingClip) -> dict:
    """Compact model inputs of a clip: ``frames`` (F,3,H,W) uint8 and ``control`` (F,3,H,W) int16
    (heatmap 0..255, instance id, depth code 0..255 are integers). Four times less to move between
    processes than float32; :func:`batch_to_model_inputs` converts on the training device."""
    import torch

    frames = torch.from_numpy(np.ascontiguousarray(clip.frames.transpose(0, 3, 1, 2)))
    if clip.control.size and (clip.control.max() > np.iinfo(np.int16).max or clip.control.min() < 0):
        raise ValueError("control values out of the int16 range; instance ids must be renumbered per clip")
    return {"frames": frames, "control": torch.from_numpy(clip.control.astype(np.int16))}


def batch_to_model_inputs(batch: dict, device=None):
    """``(pixel_values, control)``: frames as float32 in [-1, 1] and control maps as float32 (unnormalised,
    as the sampling pipeline feeds them), on ``device``. Accepts ``frames`` (uint8) or ``pixel_values``."""
    if "frames" in batch:
        pixels = batch["frames"].to(device, non_blocking=True).float() / 127.5 - 1.0
    else:
        pixels = batch["pixel_values"].to(device, non_blocking=True).float()
    return pixels, batch["control"].to(device, non_blocking=True).float()


def clip_preview(clip: TrainingClip, *, image_alpha: float = 0.5) -> np.ndarray:
    """``(F, H, 2W, 3)`` uint8: the frames with labels and control points, next to the heatmaps."""
    frames = np.stack([render_label_preview(f, lab[None], [k], image_alpha=image_alpha)[0]
                       for f, lab, k in zip(clip.frames, clip.labels, clip.keypoints)])
    return np.concatenate([frames, heatmap_preview(clip.control)], axis=2)
