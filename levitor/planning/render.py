"""Move user objects in 3D and render them back: per-frame label maps and depth maps.

Every pixel of a user object is shifted by its track's 2D delta, lifted with its own reference
depth ``z0``, pushed by the track's depth delta ``dd`` and projected again, which scales it about
the image centre by ``z0 / (z0 + dd)`` (the camera's focal lengths cancel). Points are splatted
as discs of radius ``max(base_radius - dd, base_radius)`` in normalised device units with alpha ``1 - dist² / r²``; each pixel composites the
``points_per_pixel`` nearest points (smallest depth, then lowest index) and counts as covered when
``label * coverage`` rounds to a non-zero value. Occlusion is a painter's test: object *j* is
drawn where the running depth map is farther than its trajectory depth; objects are drawn in
selection order. Pixels that are unlabelled or were user-object pixels and are not covered get
the "fill" label taken from the region above each object, with depth 1.0 (far).

Splat size: the reference expresses the radius in normalised device units, one unit being half
the shorter image side, and only ever ran at 288 pixels wide (144 pixels a unit, a 1.584 px radius).
Since the point cloud has one point per pixel at every resolution, the radius that closes the gaps
between points is a pixel size: by default (``splat_units="pixels"``) one unit is 144 pixels at
every resolution, which equals the reference at its own resolution. ``splat_units="ndc"`` scales
with the image as the reference's code does (a 0.2 px radius at 36 px, 3.2 px at 576 px).

Pure torch, batched over frames, on any device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .options import REFERENCE_BASE_RADIUS, REFERENCE_POINTS_PER_PIXEL, SPLAT_UNITS
from .scene import area_statistics


REFERENCE_UNIT_PX = 144.0  # pixels per normalised device unit at the reference's 288-px short side


@dataclass
class MovedMasks:
    """Per-frame label and depth maps and per-label area statistics over the frames.

    ``area_min[l - 1]`` / ``area_max[l - 1]`` are the smallest / largest pixel count of label
    ``l`` over the frames, for labels ``1..labels_max`` of the scene's label map.
    """

    labels: np.ndarray  # (F, H, W) int32
    depths: np.ndarray  # (F, H, W) float32
    area_min: np.ndarray  # (L,) int64
    area_max: np.ndarray  # (L,) int64


def _float_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def fill_label(initial: np.ndarray, row: int, col: int) -> int:
    """The label vacated pixels take for an object whose first (top-most) pixel is ``(row, col)``.

    The most frequent label (smallest on ties) in the 5 pixels above that pixel, in column
    ``max(col - 5, 0)``, of the label map with user objects removed. When the object touches the
    top row there is nothing above it and the fill is 0 (unlabelled); the reference crashes there.
    """
    window = initial[max(row - 5, 0):row, max(col - 5, 0)]
    if window.size == 0:
        return 0
    return int(np.argmax(np.bincount(window.astype(np.int64))))


def splat_coverage(x: torch.Tensor, y: torch.Tensor, rank: torch.Tensor, valid: torch.Tensor,
                   radius_px: torch.Tensor, height: int, width: int, label: float,
                   points_per_pixel: int = REFERENCE_POINTS_PER_PIXEL) -> torch.Tensor:
    """Which pixels a point cloud covers, per frame: ``(C, H, W)`` bool.

    ``x``, ``y``: ``(C, N)`` projected positions in pixels (pixel ``(r, c)`` has its centre at
    ``(c + 0.5, r + 0.5)``); ``rank``: ``(N,)`` depth order of the points (0 = nearest, ties by
    index); ``valid``: ``(C, N)`` points in front of the camera; ``radius_px``: ``(C,)`` splat
    radius in pixels; ``label``: the feature value that scales the coverage threshold.
    """
    device = x.device
    n_frames, n_pts = x.shape
    covered = torch.zeros((n_frames, height, width), dtype=torch.bool, device=device)
    if n_pts == 0:
        return covered
    rmax = float(radius_px.max())
    win = int(np.floor(2 * rmax)) + 1
    r2 = (radius_px * radius_px)[:, None, None]  # (C,1,1)
    c0 = torch.floor(x - 0.5 - radius_px[:, None]).to(torch.int64) + 1  # (C,N)
    r0 = torch.floor(y - 0.5 - radius_px[:, None]).to(torch.int64) + 1
    offs = torch.arange(win, device=device)
    frame_ids = torch.arange(n_frames, device=device)[:, None, None]
    hw = height * width
    keys = []
    alphas = []
    for oy in range(win):
        rows = r0 + oy  # (C,N)
        dy = (rows.to(x.dtype) + 0.5) - y
        cols = c0[:, :, None] + offs  # (C,N,win)
        dx = (cols.to(x.dtype) + 0.5) - x[:, :, None]
        d2 = dx * dx + (dy * dy)[:, :, None]
        ok = (d2 < r2) & valid[:, :, None] & (rows >= 0)[:, :, None] & (rows < height)[:, :, None]
        ok &= (cols >= 0) & (cols < width)
        if not bool(ok.any()):
            continue
        pix = (frame_ids * hw + rows[:, :, None] * width + cols)[ok]
        rk = rank[None, :, None].expand_as(ok)[ok]
        keys.append(pix * n_pts + rk)
        alphas.append((1.0 - d2 / r2)[ok])
    if not keys:
        return covered
    key = torch.cat(keys)
    alpha = torch.cat(alphas).clamp(max=1.0)
    pix = key // n_pts
    n_pix = n_frames * hw
    # covered  <=>  label * (1 - prod(1 - alpha over the kept candidates)) > 0.5
    log_thr = float(np.log1p(-0.5 / label)) if label > 0.5 else -np.inf
    log_all = torch.zeros(n_pix, dtype=x.dtype, device=device)
    log_all.index_add_(0, pix, torch.log1p(-alpha))
    covered_all = log_all < log_thr
    counts = torch.bincount(pix, minlength=n_pix)
    crowded = counts > points_per_pixel
    if not bool((crowded & covered_all).any()):
        return covered_all.view(n_frames, height, width)
    # A crowded pixel keeps only its points_per_pixel nearest candidates. Its decision is known
    # without sorting when every possible kept set contains a candidate that covers it alone
    # (alpha > 0.5 / label), or when even all candidates together do not cover it.
    strong = torch.bincount(pix[alpha > 0.5 / label], minlength=n_pix)
    sure = strong >= counts - points_per_pixel + 1
    ambiguous = crowded & covered_all & ~sure
    result = covered_all.clone()
    sel = ambiguous[pix]
    if bool(sel.any()):
        ck, order = torch.sort(key[sel])
        cpix = ck // n_pts
        idx = torch.arange(len(ck), device=device)
        start = torch.ones_like(cpix, dtype=torch.bool)
        start[1:] = cpix[1:] != cpix[:-1]
        group_start = torch.cummax(torch.where(start, idx, torch.zeros_like(idx)), 0).values
        keep = (idx - group_start) < points_per_pixel
        log_kept = torch.zeros(n_pix, dtype=x.dtype, device=device)
        log_kept.index_add_(0, cpix[keep], torch.log1p(-alpha[sel][order][keep]))
        result[ambiguous] = log_kept[ambiguous] < log_thr
    return result.view(n_frames, height, width)


def _candidate_budget(n_pts: int, radius_px: float) -> int:
    win = int(np.floor(2 * radius_px)) + 1
    return max(1, n_pts * win * win)


@dataclass
class _LiftedObject:
    """One user object's pixels lifted to 3D: pixel centres ``u, v``, depth ``z``, depth rank."""

    label: int
    u: torch.Tensor
    v: torch.Tensor
    z: torch.Tensor
    rank: torch.Tensor
    fill: int  # the label its vacated pixels take (see fill_label)


@dataclass
class LiftedScene:
    """The per-scene part of rendering, done once: every object pixel lifted to 3D, the static
    label and depth maps and the fill labels. Render any frames from it with
    :func:`render_moved_masks`; it does not depend on the tracks."""

    scene: object
    device: torch.device
    initial: torch.Tensor  # (H, W) int32 label map without the user objects
    depth: torch.Tensor  # (H, W) depth of the static pixels, 1.0 where free
    free: torch.Tensor  # (H, W) bool: unlabelled or user-object pixels
    objects: list  # per user object a _LiftedObject, or None when it has no pixels
    n_labels: int

    @property
    def num_objects(self) -> int:
        return len(self.objects)


def lift_scene(scene, device: str | torch.device | None = None) -> LiftedScene:
    """Lift the pixels of every user object of ``scene`` to 3D on ``device`` (default CPU)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    fdt = _float_dtype(device)
    labels0 = np.asarray(scene.labels)
    n = int(scene.num_objects)
    depth0 = np.asarray(scene.depth, dtype=np.float64)
    free = labels0 <= n  # unlabelled or user-object pixels
    initial = np.where(free, 0, labels0).astype(np.int32)
    objects = []
    for j in range(n):
        rows, cols = np.nonzero(labels0 == j + 1)  # raster order
        if len(rows) == 0:
            objects.append(None)
            continue
        z0 = depth0[rows, cols].astype(np.float32)  # the reference keeps points in float32
        rank = np.empty(len(z0), dtype=np.int64)
        rank[np.argsort(z0, kind="stable")] = np.arange(len(z0))
        objects.append(_LiftedObject(
            label=j + 1,
            u=torch.from_numpy(cols.astype(np.float64)).to(device=device, dtype=fdt),
            v=torch.from_numpy(rows.astype(np.float64)).to(device=device, dtype=fdt),
            z=torch.from_numpy(z0.astype(np.float64)).to(device=device, dtype=fdt),
            rank=torch.from_numpy(rank).to(device),
            fill=fill_label(initial, int(rows[0]), int(cols[0]))))
    return LiftedScene(scene=scene, device=device, initial=torch.from_numpy(initial).to(device),
                       depth=torch.from_numpy(np.where(free, 1.0, depth0)).to(device=device, dtype=fdt),
                       free=torch.from_numpy(free).to(device), objects=objects, n_labels=int(labels0.max()))


def render_moved_masks(scene, trajectories: np.ndarray, *, device: str | torch.device | None = None,
                       base_radius: float = REFERENCE_BASE_RADIUS,
                       points_per_pixel: int = REFERENCE_POINTS_PER_PIXEL, splat_units: str = "pixels",
                       max_candidates: int = 24_000_000, frames: Sequence[int] | None = None) -> MovedMasks:
    """Render the per-frame label and depth maps of ``scene`` moved along ``trajectories``.

    ``scene``: a :class:`~levitor.planning.scene.Scene`, or a :class:`LiftedScene` made once with
    :func:`lift_scene` (then ``device`` is the lifted scene's). ``trajectories``:
    ``(n_objects, F, 3)`` absolute ``(x, y, depth)`` per frame (from
    :func:`levitor.planning.tracks.resample_tracks`); frame 0 is the rest pose, deltas are taken
    from it. ``frames``: the frame indices to render (default all), in the order given; the
    result holds those frames only, each identical to the same frame of a full render.
    """
    lifted = scene if isinstance(scene, LiftedScene) else lift_scene(scene, device)
    device = lifted.device
    fdt = _float_dtype(device)
    traj = np.asarray(trajectories, dtype=np.float64)
    height, width = lifted.initial.shape
    n = lifted.num_objects
    if traj.ndim != 3 or traj.shape[2] != 3:
        raise ValueError(f"trajectories must be (n_objects, F, 3), got shape {traj.shape}")
    if traj.shape[0] != n:
        raise ValueError(f"there are {n} object masks but {traj.shape[0]} tracks; give one track per object")
    if traj.shape[1] < 1:
        raise ValueError("trajectories have no frames")
    if frames is not None:
        frames = [int(f) for f in frames]
        if not frames:
            raise ValueError("frames is empty; give at least one frame index to render")
        bad = [f for f in frames if not 0 <= f < traj.shape[1]]
        if bad:
            raise ValueError(f"frames {bad} are outside 0..{traj.shape[1] - 1}")
    if splat_units not in SPLAT_UNITS:
        raise ValueError(f"splat_units must be 'pixels' or 'ndc', got {splat_units!r}")
    deltas = traj - traj[:, :1]
    if frames is not None:
        traj, deltas = traj[:, frames], deltas[:, frames]
    n_frames = traj.shape[1]
    abs_depth = traj[:, :, 2]

    M = lifted.initial.unsqueeze(0).repeat(n_frames, 1, 1)
    D = lifted.depth.unsqueeze(0).repeat(n_frames, 1, 1)
    free_t = lifted.free
    unit_px = REFERENCE_UNIT_PX if splat_units == "pixels" else min(height, width) / 2.0

    for j, obj in enumerate(lifted.objects):  # in selection order: the painter's test
        if obj is None:
            continue
        u, v, z, rank_t = obj.u, obj.v, obj.z, obj.rank
        covered = torch.zeros((n_frames, height, width), dtype=torch.bool, device=device)
        radius_all = np.maximum(base_radius - deltas[j, :, 2], base_radius) * unit_px
        per_frame = _candidate_budget(len(u), float(radius_all.max()))
        chunk = max(1, min(n_frames, max_candidates // per_frame))
        for f0 in range(0, n_frames, chunk):
            f1 = min(n_frames, f0 + chunk)
            d = torch.from_numpy(deltas[j, f0:f1]).to(device=device, dtype=fdt)  # (C,3)
            zz = z[None, :] + d[:, 2:3]  # (C,N)
            valid = zz > 0
            rho = z[None, :] / torch.where(valid, zz, torch.ones_like(zz))
            x = width / 2.0 + (u[None, :] + d[:, 0:1] - width / 2.0) * rho
            y = height / 2.0 + (v[None, :] + d[:, 1:2] - height / 2.0) * rho
            radius = torch.from_numpy(radius_all[f0:f1]).to(device=device, dtype=fdt)
            covered[f0:f1] = splat_coverage(x, y, rank_t, valid, radius, height, width,
                                            float(obj.label), points_per_pixel)
        dj = torch.from_numpy(abs_depth[j]).to(device=device, dtype=fdt)[:, None, None]
        visible = covered & (D > dj)
        M = torch.where(visible, torch.full_like(M, obj.label), M)
        D = torch.where(visible, dj.expand_as(D), D)
        if obj.fill != 0:
            M = torch.where(free_t & (M == 0), torch.full_like(M, obj.fill), M)

    labels = M.cpu().numpy().astype(np.int32)
    depths = D.cpu().numpy().astype(np.float32)
    area_min, area_max = area_statistics(labels, lifted.n_labels)
    return MovedMasks(labels=labels, depths=depths, area_min=area_min, area_max=area_max)
