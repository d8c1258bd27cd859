"""The warped video: the start image's pixels moved along the tracks, a 3D "cut and drag" video.

The render (:func:`~.stages.render_stage`) decides, for every frame, which object each pixel
shows (its label map: silhouettes and occlusion by the depth test). This module gives those
pixels colours. For an output pixel that frame ``t``'s label map assigns to object ``j``, the
lift / move / project step (:func:`~.motion.project_moved`) is inverted to find the source pixel
of ``j`` that lands there, and the image is sampled there bilinearly (``grid_sample``), so an
object nearer the camera is drawn larger without holes and a farther one smaller.

The inverse needs the source depth ``z``: ``u = W / 2 + (x - W / 2) * (z + dd) / z - dx``. It is
found by a fixed-point iteration: start from the object's median depth, map back, read the
object's own depth at the source position, map back again (``DEPTH_ITERATIONS`` steps, a fixed
number). For objects whose depth varies smoothly this converges to the point the forward
projection sends to the pixel; on a depth step inside one object it settles on one side of it.
The render's splats grow as an object comes nearer (its silhouettes are dilated, by design of
the reference), so a labelled pixel is drawn only where its source position falls inside the
object's mask (the mask sampled bilinearly at least 0.5): the object's own shape, moved, within
the render's silhouette. A pixel the render gives to an object but that this trims keeps the
still image (or the fill, where the object left). Outside its mask an object's colours and
depths are extended with those of its nearest pixel (a distance transform), so samples at the
edge take the object's colours, never what is around it.

Output pixels are taken at their index ``(column, row)``, the units the render lifts source
pixels in, so the inverse of a zero move is the identity (an object that has not moved copies
itself exactly); the render's splat tests pixel centres half a pixel further on, a difference the
silhouette trim absorbs.

**Vacated pixels** (the place an object left that no moved object now covers) are filled from the
background around them with a push-pull (pyramid) interpolation: the known pixels are averaged
down an image pyramid, and each hole pixel takes the blend of the coarser levels at its place.
Known pixels are those no moved object covers and that are not vacated (with a camera move the
moved background counts as known). It is smooth, deterministic and linear in the image size.

**The mask** marks where a frame differs from the still image: the pixels a moving object (one
whose motion since frame 0 is non-zero in that frame) covers, and the vacated pixels. Every other
pixel keeps the input's colour exactly.

Bounded like the render (:mod:`levitor.limits`): the same frame and image limits, one frame at a
time, the per-object work on the pixels the object covers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..limits import check_image_size, check_plan_size
from .motion import motion_deltas, project_moved
from .options import PlanOptions
from .stages import LiftedScene, RenderResult, build_scene, render_stage
from .threads import bounded_cpu_threads

__all__ = ["DEPTH_ITERATIONS", "WarpSource", "WarpedVideo", "fill_from_around", "warp_render", "warp_source",
           "warped_video"]

DEPTH_ITERATIONS = 4  # fixed-point steps of the inverse projection (see the module text)
_PAD = 2  # pixels around each object's box that hold its extended colours and depths


@dataclass
class WarpedVideo:
    """The warped frames ``(T, H, W, 3)`` uint8 and the mask ``(T, H, W)`` bool (True where a
    frame differs from the still image: moved objects and the places they left).

    ``frame_indices`` are the frames of the plan they show; ``labels`` the render's label maps
    of those frames; ``trajectories`` ``(n, F, 3)`` the resampled tracks (camera track last);
    ``warnings`` the render's planning warnings."""

    frames: np.ndarray
    mask: np.ndarray
    frame_indices: list[int]
    labels: np.ndarray
    trajectories: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class _Object:
    rest_window: tuple  # (rows, cols) slices of its box in the image
    rest_box: np.ndarray  # (h, w) bool: the object's pixels in the still image, in its box
    top: int
    left: int
    inside: torch.Tensor  # (1, 1, h, w) float32: 1 on the object's pixels, 0 around them
    colour: torch.Tensor  # (1, 3, h, w) float32: colours, extended outside the mask
    depth: torch.Tensor  # (1, 1, h, w) float32: reference depth, extended outside the mask
    z_median: float


@dataclass
class WarpSource:
    """The per-scene part of warping, done once (e.g. for a live preview): per moved object its
    colours and depths extended past its mask. Does not depend on the tracks."""

    scene: Any
    device: torch.device
    objects: list  # per moved object an _Object, or None when it has no pixels
    camera_index: int | None  # the object that is the moved background, if any


def warp_source(scene: Any, device: Any = None) -> WarpSource:
    """Prepare ``scene`` (a :class:`~.scene.Scene` or :class:`~.stages.LiftedScene`) for warping
    on ``device`` (default CPU)."""
    from scipy.ndimage import distance_transform_edt

    plain = scene.scene if isinstance(scene, LiftedScene) else scene
    device = torch.device(device) if device is not None else torch.device("cpu")
    image = np.asarray(plain.image)
    labels = np.asarray(plain.labels)
    depth = np.asarray(plain.depth, dtype=np.float32)
    height, width = labels.shape
    objects: list = []
    for j in range(int(plain.num_objects)):
        rest = labels == j + 1
        rows, cols = np.nonzero(rest)
        if len(rows) == 0:
            objects.append(None)
            continue
        top, left = max(int(rows.min()) - _PAD, 0), max(int(cols.min()) - _PAD, 0)
        bottom, right = min(int(rows.max()) + _PAD + 1, height), min(int(cols.max()) + _PAD + 1, width)
        box = rest[top:bottom, left:right]
        # Every box pixel takes the values of its nearest object pixel (object pixels their own).
        near_r, near_c = distance_transform_edt(~box, return_distances=False, return_indices=True)
        colour = image[top:bottom, left:right][near_r, near_c]
        dep = depth[top:bottom, left:right][near_r, near_c]
        objects.append(_Object(
            rest_window=(slice(top, bottom), slice(left, right)), rest_box=box, top=top, left=left,
            inside=torch.from_numpy(box.astype(np.float32))[None, None].to(device),
            colour=torch.from_numpy(np.ascontiguousarray(colour.transpose(2, 0, 1), dtype=np.float32))[None].to(device),
            depth=torch.from_numpy(np.ascontiguousarray(dep))[None, None].to(device),
            z_median=float(np.median(depth[rows, cols]))))
    camera = int(plain.num_objects) - 1 if getattr(plain, "camera_move", False) else None
    return WarpSource(scene=plain, device=device, objects=objects, camera_index=camera)


def _sample(values: torch.Tensor, obj: _Object, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Bilinear samples ``(C, P)`` of an object's box image at source positions ``u, v`` (pixels
    of the full image), clamped to the box."""
    h, w = values.shape[-2:]
    gx = (u - obj.left) / max(w - 1, 1) * 2 - 1
    gy = (v - obj.top) / max(h - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], dim=-1).to(values.dtype)[None, None]  # (1, 1, P, 2)
    out = F.grid_sample(values, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[0, :, 0]


def _source_positions(obj: _Object, x: torch.Tensor, y: torch.Tensor, dx: float, dy: float, dd: float,
                      width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where in the still image the object's pixels that land on ``(x, y)`` come from.

    The inverse of :func:`project_moved` at source depth ``z``: projecting ``(x, y)`` from depth
    ``z + dd`` moved by ``-dd`` undoes the scaling, then the shift is taken back. ``z`` by the
    fixed-point iteration of the module text."""
    z = torch.full_like(x, obj.z_median)
    floor = max(-dd, 0.0) + 1e-6  # the source depth is one the point survives the move from
    for step in range(DEPTH_ITERATIONS + 1):
        zs = z.clamp_min(floor)
        sx, sy, _, _ = project_moved(x, y, zs + dd, 0.0, 0.0, -dd, width, height)
        u, v = sx - dx, sy - dy
        if step < DEPTH_ITERATIONS:
            z = _sample(obj.depth, obj, u, v)[0]
    return u, v


def _half(x: torch.Tensor) -> torch.Tensor:
    """2 x 2 means of ``(1, C, h, w)`` (an odd last row or column is averaged with zeros: the
    weights below carry the same zeros, so their ratios are true means)."""
    h, w = x.shape[-2:]
    x = F.pad(x, (0, w % 2, 0, h % 2))
    return x.view(x.shape[0], x.shape[1], (h + 1) // 2, 2, (w + 1) // 2, 2).mean(dim=(3, 5))


def fill_from_around(image: torch.Tensor, hole: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """``image`` ``(C, H, W)`` float with its ``hole`` pixels filled from the ``known`` pixels by
    push-pull interpolation (``(H, W)`` bool masks); other pixels are returned unchanged. With no
    known pixel the hole takes the image's mean colour."""
    channels = image.shape[0]
    w = known.to(image.dtype)[None, None]
    level = torch.cat([image[None] * w, w], dim=1)  # colour times weight, and the weight
    pyramid = [level]
    while min(level.shape[-2:]) > 1 and bool((level[:, channels:] <= 0).any()):
        level = _half(level)
        pyramid.append(level)
    c, w = level[:, :channels], level[:, channels:]
    if bool((w > 0).any()):
        mean = c.sum(dim=(-2, -1), keepdim=True) / w.sum()
    else:
        mean = image.mean(dim=(-2, -1), keepdim=True)[None]
    value = torch.where(w > 0, c / w.clamp_min(1e-12), mean)
    for level in reversed(pyramid[:-1]):
        c, w = level[:, :channels], level[:, channels:]
        up = F.interpolate(value, size=c.shape[-2:], mode="bilinear", align_corners=False)
        value = c + (1 - w) * up  # c = w * (mean of the known pixels below)
    return torch.where(hole[None], value[0], image)


def _fill_vacated(frame: np.ndarray, vacated: np.ndarray, known: np.ndarray, window: tuple,
                  device: torch.device) -> None:
    """Fill ``frame``'s (``(H, W, 3)`` uint8, in place) ``vacated`` pixels inside ``window`` (an
    object's box) by :func:`fill_from_around` over the box and a margin of half its size (at least
    16 pixels) around it."""
    r0, r1, c0, c1 = window[0].start, window[0].stop, window[1].start, window[1].stop
    margin = max(16, (r1 - r0) // 2, (c1 - c0) // 2)
    r0, c0 = max(r0 - margin, 0), max(c0 - margin, 0)
    r1, c1 = min(r1 + margin, frame.shape[0]), min(c1 + margin, frame.shape[1])
    crop = torch.from_numpy(np.ascontiguousarray(frame[r0:r1, c0:c1].transpose(2, 0, 1))).to(device, torch.float32)
    hole = torch.from_numpy(np.ascontiguousarray(vacated[r0:r1, c0:c1])).to(device)
    good = torch.from_numpy(np.ascontiguousarray(known[r0:r1, c0:c1])).to(device)
    filled = fill_from_around(crop, hole, good).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    window = frame[r0:r1, c0:c1]
    hole_np = vacated[r0:r1, c0:c1]
    window[hole_np] = filled[hole_np]


def warp_render(render: RenderResult | Any, source: WarpSource | None = None, *, device: Any = None,
                check: Callable[[], None] | None = None) -> WarpedVideo:
    """The warped frames of a render (all the frames it rendered, in its order).

    ``render``: from :func:`~.stages.render_stage` (or a :class:`~.plan.PlanResult`: every frame
    of the plan); ``source``: :func:`warp_source` of its scene,
    made once and reused (default: made here on ``device``). ``check`` is called after each
    frame (a progress and cancel hook)."""
    scene = render.scene
    src = source if source is not None else warp_source(scene, device)
    if src.scene is not scene:
        raise ValueError("source was prepared for another scene; call warp_source(render.scene)")
    height, width = int(scene.height), int(scene.width)
    rendered = list(getattr(render, "frames", None) or range(np.asarray(render.labels).shape[0]))
    deltas = motion_deltas(render.trajectories)[:, rendered]  # (n, T, 3)
    n_frames = len(rendered)
    frames = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    mask = np.zeros((n_frames, height, width), dtype=bool)
    dev = src.device
    image = np.asarray(scene.image)
    with bounded_cpu_threads(dev):  # many small torch operations: see .threads
        for ti in range(n_frames):
            labels = np.asarray(render.labels[ti])
            frame = image.copy()
            covered = np.zeros((height, width), dtype=bool)
            by_objects = np.zeros_like(covered)  # covered by a moved object that is not the background
            vacated = np.zeros_like(covered)
            moving = []
            for j, obj in enumerate(src.objects):
                dx, dy, dd = (float(d) for d in deltas[j, ti])
                if obj is None or (dx == 0 and dy == 0 and dd == 0):
                    continue
                moving.append(obj)
                rows, cols = np.nonzero(labels == j + 1)
                if len(rows) == 0:
                    continue
                r_t, c_t = torch.from_numpy(rows).to(dev), torch.from_numpy(cols).to(dev)
                u, v = _source_positions(obj, c_t.to(torch.float32), r_t.to(torch.float32), dx, dy, dd, width, height)
                keep = _sample(obj.inside, obj, u, v)[0] >= 0.5  # the object's own shape, moved
                u, v = u[keep], v[keep]
                keep_np = keep.cpu().numpy()
                rows, cols = rows[keep_np], cols[keep_np]
                colour = _sample(obj.colour, obj, u, v).round().clamp(0, 255).to(torch.uint8)
                frame[rows, cols] = colour.t().cpu().numpy()
                covered[rows, cols] = True
                if j != src.camera_index:
                    by_objects[rows, cols] = True
            for obj in moving:  # the places moving objects left that no moving object covers now
                win = obj.rest_window
                vacated[win] |= obj.rest_box & ~covered[win]
            known = ~vacated & ~by_objects
            for obj in moving:  # each object's old place from the background around it
                if vacated[obj.rest_window].any():
                    _fill_vacated(frame, vacated, known, obj.rest_window, dev)
            frames[ti] = frame
            mask[ti] = covered | vacated
            if check is not None:
                check()
    return WarpedVideo(frames=frames, mask=mask, frame_indices=rendered, labels=render.labels,
                       trajectories=render.trajectories, warnings=list(render.warnings))


def warped_video(image: np.ndarray, depth: np.ndarray, object_masks: Sequence[np.ndarray],
                 static_masks: Sequence[np.ndarray] = (), tracks: Any = None, num_frames: int | None = None, *,
                 camera_track: Any = None, options: PlanOptions | None = None, frames: Sequence[int] | None = None,
                 device: Any = None) -> WarpedVideo:
    """The start image's objects moved along their tracks: a rough preview of the video and a
    control video for video-to-video models (e.g. Wan VACE's control video and masks).

    ``image`` ``(H, W, 3)`` uint8; ``depth`` ``(H, W)`` reference depth; ``object_masks`` the
    moved objects in selection order, ``static_masks`` the segments that stay (they hide objects
    that pass behind them); ``tracks`` one ``(x, y, depth)`` track per object (or tracks JSON);
    ``num_frames`` (default ``options.num_frames``); ``camera_track`` moves the background.
    ``frames``: only these frame indices (default all). Same inputs, checks and bounds as
    :func:`levitor.build_plan`'s render. See the module text for the method.
    """
    if tracks is None:
        raise ValueError("tracks is missing: give one track of (x, y, depth) points per object mask")
    opts = options or PlanOptions()
    if num_frames is not None:
        opts = replace(opts, num_frames=num_frames)
    opts = opts.validated()
    img = np.asarray(image)
    if img.ndim >= 2:  # before any slow work
        width, height = check_image_size(img.shape[1], img.shape[0])
        check_plan_size(opts.num_frames, width, height)
    scene = build_scene(image, depth, object_masks, static_masks, opts, camera_move=camera_track is not None)
    render = render_stage(scene, tracks, opts, camera_track=camera_track, frames=frames, device=device)
    return warp_render(render, device=device)
