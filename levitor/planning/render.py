"""Move user objects in 3D and render them back: per-frame label maps and depth maps.

Every pixel of a user object is shifted by its track's 2D delta, lifted with its own reference
depth ``z0``, pushed by the track's depth delta ``dd`` and projected again, which scales it about
the image centre by ``z0 / (z0 + dd)`` (the camera's focal lengths cancel). Points are splatted
as discs of radius ``max(base_radius - dd, base_radius)`` in normalised device units with alpha
``1 - dist² / r²``; each pixel composites the ``points_per_pixel`` nearest points (smallest depth,
then lowest index) and counts as covered when ``label * coverage`` rounds to a non-zero value.
Occlusion is a painter's test: object *j* is drawn where the running depth map is farther than its trajectory depth; objects are drawn in
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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..limits import BASE_RADIUS, POINTS_PER_PIXEL
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


# Window cells evaluated per vectorised step: bounds the splatter's temporary memory.
_STEP_CELLS = 1 << 20
# The discs of all object points together cover at most this many times points_per_pixel x the
# image area: the image shows points_per_pixel candidates per pixel, so larger discs only add
# candidates that are dropped (see render_moved_masks).
SPLAT_AREA_FACTOR = 1.0


def splat_radius_cap(n_points: int, height: int, width: int, points_per_pixel: int) -> float:
    """The largest splat radius in pixels for ``n_points`` object points in an ``height x width`` frame."""
    if n_points <= 0:
        return float("inf")
    return float(np.sqrt(SPLAT_AREA_FACTOR * points_per_pixel * height * width / (np.pi * n_points)))


def _window_hits(xs, ys, r2, base, top, left, rows0, cols0, win, height, width, box_w, keep_pix=None):
    """Every (pixel, alpha) a chunk of points hits, one window row at a time.

    Yields ``(pix, alpha, point)`` per window row: the pixel's index in the stack of per-frame
    boxes (``base`` the box's offset, ``top``/``left`` its corner in the image, ``box_w`` its
    width), ``1 - d² / r²`` and the index of the point within the chunk."""
    offs = torch.arange(win, device=xs.device)
    cols = cols0[:, None] + offs  # (P, win)
    dx = (cols.to(xs.dtype) + 0.5) - xs[:, None]
    dx2 = dx * dx
    col_ok = (cols >= 0) & (cols < width)
    lcols = (base - left)[:, None] + cols
    for oy in range(win):
        rows = rows0 + oy
        dy = (rows.to(xs.dtype) + 0.5) - ys
        d2 = dx2 + (dy * dy)[:, None]
        row_ok = (rows >= 0) & (rows < height)
        ok = (d2 < r2[:, None]) & col_ok & row_ok[:, None]
        if keep_pix is not None:
            pix = lcols + ((rows - top) * box_w)[:, None]
            ok &= keep_pix[pix.clamp(0, len(keep_pix) - 1)]
        flat = torch.nonzero(ok.view(-1), as_tuple=True)[0]
        if len(flat) == 0:
            continue
        p = flat // win
        pix = lcols.view(-1)[flat] + (rows[p] - top[p]) * box_w
        yield pix, 1.0 - d2.view(-1)[flat] / r2[p], p


def _accumulate(xs, ys, r2, base, top, left, rows0, cols0, win, height, width, box_w, strong_alpha,
                log_all, packed) -> None:
    """Pass 1 of :func:`splat_coverage` for a chunk of points: add every candidate's
    ``log(1 - alpha)`` to ``log_all`` and ``1 + (alpha > strong_alpha) << 32`` to ``packed``."""
    dump = len(log_all) - 1
    offs = torch.arange(win, device=xs.device)
    cols = cols0[:, None] + offs  # (P, win)
    dx = (cols.to(xs.dtype) + 0.5) - xs[:, None]
    dx2 = dx * dx
    inf = torch.tensor(float("inf"), dtype=xs.dtype, device=xs.device)
    dx2 = torch.where((cols >= 0) & (cols < width), dx2, inf)  # outside the image: never a candidate
    lcols = (base - left)[:, None] + cols
    r2c = r2[:, None]
    for oy in range(win):
        rows = rows0 + oy
        dy = (rows.to(xs.dtype) + 0.5) - ys
        d2 = dx2 + torch.where((rows >= 0) & (rows < height), dy * dy, inf)[:, None]
        ok = d2 < r2c
        pix = torch.where(ok, lcols + ((rows - top) * box_w)[:, None], dump).view(-1)
        alpha = 1.0 - d2 / r2c
        log_all.index_add_(0, pix, torch.log1p(-alpha).view(-1))
        packed.index_add_(0, pix, ((alpha > strong_alpha).to(torch.int64) * (1 << 32) + 1).view(-1))


def splat_coverage(x: torch.Tensor, y: torch.Tensor, rank: torch.Tensor, valid: torch.Tensor,
                   radius_px: torch.Tensor, height: int, width: int, label: float,
                   points_per_pixel: int = REFERENCE_POINTS_PER_PIXEL) -> torch.Tensor:
    """Which pixels a point cloud covers, per frame: ``(C, H, W)`` bool.

    ``x``, ``y``: ``(C, N)`` projected positions in pixels (pixel ``(r, c)`` has its centre at
    ``(c + 0.5, r + 0.5)``); ``rank``: ``(N,)`` depth order of the points (0 = nearest, ties by
    index); ``valid``: ``(C, N)`` points in front of the camera; ``radius_px``: ``(C,)`` splat
    radius in pixels; ``label``: the feature value that scales the coverage threshold.

    A pixel composites its ``points_per_pixel`` nearest candidates (points closer than the radius):
    covered when ``label * (1 - prod(1 - alpha)) > 0.5``. Candidates are streamed a window row at a
    time into per-pixel sums over each frame's footprint box, so memory is bounded by the frame
    size; only pixels where the choice of the nearest candidates can change the answer keep
    candidates, nearest first, like a z-buffer. Time is proportional to the number of points
    times the window area.
    """
    out = torch.zeros((x.shape[0], height, width), dtype=torch.bool, device=x.device)
    for f, t, left, box in _splat_boxes(x, y, rank, valid, radius_px, height, width, label, points_per_pixel):
        out[f, t:t + box.shape[0], left:left + box.shape[1]] = box
    return out


def _splat_boxes(x, y, rank, valid, radius_px, height, width, label, points_per_pixel):
    """:func:`splat_coverage` as ``(frame, top, left, covered box)`` for the frames a point reaches."""
    device = x.device
    n_frames, n_pts = x.shape
    if n_pts == 0 or label <= 0.5:
        return []
    k = int(points_per_pixel)
    # Points in depth order: a point's index is its rank (``rank`` None: they already are).
    if rank is not None:
        order = torch.argsort(rank)
        x, y, valid = x[:, order], y[:, order], valid[:, order]
    rr = radius_px.to(x.dtype)[:, None]
    valid = valid & (x > 0.5 - rr) & (x < width - 0.5 + rr) & (y > 0.5 - rr) & (y < height - 0.5 + rr)
    fi, pi = torch.nonzero(valid, as_tuple=True)  # (frame, point) pairs, by frame then rank
    if len(fi) == 0:
        return []
    xs, ys = x[fi, pi], y[fi, pi]
    rs = radius_px.to(x.dtype)[fi]
    wins = torch.floor(2 * rs).to(torch.int64) + 1
    cols0 = torch.floor(xs - 0.5 - rs).to(torch.int64) + 1
    rows0 = torch.floor(ys - 0.5 - rs).to(torch.int64) + 1
    # Each frame's footprint box (all boxes one size), inside the image.
    big = torch.iinfo(torch.int64).max
    t_f = torch.full((n_frames,), big, device=device).scatter_reduce(0, fi, rows0.clamp(0, height - 1), "amin")
    l_f = torch.full((n_frames,), big, device=device).scatter_reduce(0, fi, cols0.clamp(0, width - 1), "amin")
    b_f = torch.zeros(n_frames, dtype=torch.int64, device=device).scatter_reduce(
        0, fi, (rows0 + wins).clamp(1, height), "amax")
    r_f = torch.zeros(n_frames, dtype=torch.int64, device=device).scatter_reduce(
        0, fi, (cols0 + wins).clamp(1, width), "amax")
    present = b_f > 0
    box_h = int((b_f - t_f)[present].max())
    box_w = int((r_f - l_f)[present].max())
    t_f = torch.where(present, torch.minimum(t_f, torch.full_like(t_f, height - box_h)), torch.zeros_like(t_f))
    l_f = torch.where(present, torch.minimum(l_f, torch.full_like(l_f, width - box_w)), torch.zeros_like(l_f))
    box = box_h * box_w
    n_pix = n_frames * box
    base, top, left = fi * box, t_f[fi], l_f[fi]
    log_thr = float(np.log1p(-0.5 / label))
    strong_alpha = 0.5 / label

    # Pass 1: every candidate, summed per pixel (log transmittance; candidate and strong counts
    # packed in one int64). Window cells that are no candidate go to a spare last slot.
    log_all = torch.zeros(n_pix + 1, dtype=x.dtype, device=device)
    packed = torch.zeros(n_pix + 1, dtype=torch.int64, device=device)
    frame_wins = (torch.floor(2 * radius_px.to(x.dtype)).to(torch.int64) + 1)
    groups = []
    win_set = sorted(set(frame_wins[present].tolist()))
    for win in win_set:
        sel = torch.nonzero(wins == win, as_tuple=True)[0] if len(win_set) > 1 \
            else torch.arange(len(wins), device=device)
        groups.append((int(win), sel))
        step = max(1, _STEP_CELLS // (win * win))
        for s0 in range(0, len(sel), step):
            g = sel[s0:s0 + step]
            _accumulate(xs[g], ys[g], rs[g] * rs[g], base[g], top[g], left[g], rows0[g], cols0[g], int(win),
                        height, width, box_w, strong_alpha, log_all, packed)
    log_all, counts, strong = log_all[:n_pix], packed[:n_pix] & 0xFFFFFFFF, packed[:n_pix] >> 32
    covered = log_all < log_thr
    # A crowded pixel keeps only its k nearest candidates. Its decision is known without them when
    # every possible kept set contains a candidate that covers it alone, or when even all
    # candidates together do not cover it.
    ambiguous = (counts > k) & covered & (strong < counts - k + 1)
    del log_all, strong
    if bool(ambiguous.any()):
        _resolve_nearest(covered, ambiguous, groups, xs, ys, rs, base, top, left, rows0, cols0, fi, pi,
                         n_frames, n_pts, height, width, box_h, box_w, k, log_thr)
    covered = covered.view(n_frames, box_h, box_w)
    frames = torch.nonzero(present, as_tuple=True)[0].tolist()
    tops, lefts = t_f.tolist(), l_f.tolist()
    return [(f, tops[f], lefts[f], covered[f]) for f in frames]


def _resolve_nearest(covered, ambiguous, groups, xs, ys, rs, base, top, left, rows0, cols0, fi, pi,
                     n_frames, n_pts, height, width, box_h, box_w, k, log_thr) -> None:
    """Pass 2 of :func:`splat_coverage`: only points whose window touches an ambiguous pixel, in
    (frame, rank) order; each ambiguous pixel takes candidates until it holds ``k``."""
    device = xs.device
    amb = ambiguous.view(n_frames, box_h, box_w).to(torch.int32)
    integral = torch.zeros((n_frames, box_h + 1, box_w + 1), dtype=torch.int32, device=device)
    integral[:, 1:, 1:] = amb.cumsum(1).cumsum(2)
    integral = integral.view(-1)
    n_pix = len(covered)
    seen = torch.zeros(n_pix, dtype=torch.int32, device=device)
    log_kept = torch.zeros(n_pix, dtype=xs.dtype, device=device)
    stride = (box_h + 1) * (box_w + 1)
    for win, sel in groups:
        r_lo = (rows0[sel] - top[sel]).clamp(0, box_h)
        r_hi = (rows0[sel] - top[sel] + win).clamp(0, box_h)
        c_lo = (cols0[sel] - left[sel]).clamp(0, box_w)
        c_hi = (cols0[sel] - left[sel] + win).clamp(0, box_w)
        f0 = fi[sel] * stride
        hits = (integral[f0 + r_hi * (box_w + 1) + c_hi] - integral[f0 + r_lo * (box_w + 1) + c_hi]
                - integral[f0 + r_hi * (box_w + 1) + c_lo] + integral[f0 + r_lo * (box_w + 1) + c_lo])
        need = sel[hits > 0]
        step = max(1, _STEP_CELLS // (win * win))
        for s0 in range(0, len(need), step):
            g = need[s0:s0 + step]
            pix_l, alpha_l, rank_l = [], [], []
            for pix, alpha, p in _window_hits(xs[g], ys[g], rs[g] * rs[g], base[g], top[g], left[g], rows0[g],
                                              cols0[g], win, height, width, box_w, keep_pix=ambiguous):
                pix_l.append(pix)
                alpha_l.append(alpha)
                rank_l.append(pi[g][p])
            if not pix_l:
                continue
            key, order = torch.sort(torch.cat(pix_l) * n_pts + torch.cat(rank_l))
            cpix = key // n_pts
            alpha = torch.cat(alpha_l)[order]
            idx = torch.arange(len(cpix), device=device)
            start = torch.ones_like(cpix, dtype=torch.bool)
            start[1:] = cpix[1:] != cpix[:-1]
            group_start = torch.cummax(torch.where(start, idx, torch.zeros_like(idx)), 0).values
            keep = (idx - group_start + seen[cpix]) < k
            log_kept.index_add_(0, cpix[keep], torch.log1p(-alpha[keep]))
            seen.index_add_(0, cpix, torch.ones_like(cpix, dtype=torch.int32))
    covered[ambiguous] = log_kept[ambiguous] < log_thr


# Frame pixels (frames x height x width) and object points x frames per step: bound the memory
# of the per-pixel sums and of the projected points.
_STEP_FRAME_PIXELS = 1 << 22
_STEP_POINTS = 1 << 19


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

    @property
    def num_points(self) -> int:
        return sum(len(o.u) for o in self.objects if o is not None)


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
                       free=torch.from_numpy(free).to(device), objects=objects,
                       n_labels=int(labels0.max()) if labels0.size else 0)


def render_moved_masks(scene, trajectories: np.ndarray, *, device: str | torch.device | None = None,
                       base_radius: float = REFERENCE_BASE_RADIUS,
                       points_per_pixel: int = REFERENCE_POINTS_PER_PIXEL, splat_units: str = "pixels",
                       frames: Sequence[int] | None = None, strict_depth_test: bool = False) -> MovedMasks:
    """Render the per-frame label and depth maps of ``scene`` moved along ``trajectories``.

    ``scene``: a :class:`~levitor.planning.scene.Scene`, or a :class:`LiftedScene` made once with
    :func:`lift_scene` (then ``device`` is the lifted scene's). ``trajectories``:
    ``(n_objects, F, 3)`` absolute ``(x, y, depth)`` per frame (from
    :func:`levitor.planning.tracks.resample_tracks`); frame 0 is the rest pose, deltas are taken
    from it. ``frames``: the frame indices to render (default all), in the order given; the
    result holds those frames only, each identical to the same frame of a full render.

    Occlusion: object *j* is drawn where the running depth map is farther than its trajectory
    depth, and where both are 1.0 (a tie at the far plane draws the object).
    ``strict_depth_test=True`` is the reference's strict test, under which an object at depth 1.0
    is never drawn over free pixels.

    The splat radius in pixels is capped (:func:`splat_radius_cap`) so that the discs of all
    object points cover at most ``SPLAT_AREA_FACTOR * points_per_pixel`` times the image: the
    work per frame is then bounded by the image size whatever the depth change. At the reference
    settings the cap never binds at rest (1.58 px; the cap is 1.78 px for an object covering the
    whole image), and for objects up to a tenth of the image not before 5.6 px (a move nearer by
    0.028 depth). Frames whose motion equals an earlier frame's are rendered once.
    """
    lifted = scene if isinstance(scene, LiftedScene) else lift_scene(scene, device)
    device = lifted.device
    fdt = _float_dtype(device)
    base_radius = BASE_RADIUS.check(base_radius)
    points_per_pixel = POINTS_PER_PIXEL.check(points_per_pixel)
    traj = np.asarray(trajectories, dtype=np.float64)
    height, width = lifted.initial.shape
    n = lifted.num_objects
    if traj.ndim != 3 or traj.shape[2] != 3:
        raise ValueError(f"trajectories must be (n_objects, F, 3), got shape {traj.shape}")
    if traj.shape[0] != n:
        raise ValueError(f"there are {n} object masks but {traj.shape[0]} tracks; give one track per object")
    if traj.shape[1] < 1:
        raise ValueError("trajectories have no frames")
    if not np.all(np.isfinite(traj)):
        raise ValueError("trajectories contain NaN or infinite values")
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
    unit_px = REFERENCE_UNIT_PX if splat_units == "pixels" else min(height, width) / 2.0
    r_cap = splat_radius_cap(lifted.num_points, height, width, points_per_pixel)
    chunk = max(1, min(n_frames, _STEP_FRAME_PIXELS // (height * width)))
    chunk = max(1, min(chunk, _STEP_POINTS // max(1, max((len(o.u) for o in lifted.objects if o is not None),
                                                          default=1))))
    # Vacated and unlabelled pixels nobody covers take the fill label of the first object (with
    # pixels) whose fill is not 0. Drawing never writes 0, so filling once at the end is the same
    # as filling after each object.
    fill = next((o.fill for o in lifted.objects if o is not None and o.fill != 0), 0)

    for j, obj in enumerate(lifted.objects):  # in selection order: the painter's test
        if obj is None:
            continue
        order = torch.argsort(obj.rank)  # points in depth order once, not per step
        u, v, z = obj.u[order], obj.v[order], obj.z[order]
        # Frames with the same motion cover the same pixels: splat each motion once.
        motions, first, which = np.unique(deltas[j], axis=0, return_index=True, return_inverse=True)
        motions = deltas[j][np.sort(first)]
        which = np.argsort(np.argsort(first))[which.reshape(-1)]
        radius_all = np.minimum(np.maximum(base_radius - motions[:, 2], base_radius) * unit_px, r_cap)
        for f0 in range(0, len(motions), chunk):
            f1 = min(len(motions), f0 + chunk)
            d = torch.from_numpy(motions[f0:f1]).to(device=device, dtype=fdt)  # (C,3)
            zz = z[None, :] + d[:, 2:3]  # (C,N)
            valid = zz > 0
            rho = z[None, :] / torch.where(valid, zz, torch.ones_like(zz))
            x = width / 2.0 + (u[None, :] + d[:, 0:1] - width / 2.0) * rho
            y = height / 2.0 + (v[None, :] + d[:, 1:2] - height / 2.0) * rho
            radius = torch.from_numpy(radius_all[f0:f1]).to(device=device, dtype=fdt)
            boxes = _splat_boxes(x, y, None, valid, radius, height, width, float(obj.label), points_per_pixel)
            for m, t, left, cov in boxes:
                for f in np.nonzero(which == f0 + m)[0].tolist():
                    dj = float(abs_depth[j, f])
                    win = (f, slice(t, t + cov.shape[0]), slice(left, left + cov.shape[1]))
                    Dc = D[win]
                    in_front = Dc > dj
                    if not strict_depth_test and dj >= 1.0:
                        in_front |= Dc >= 1.0
                    visible = cov & in_front
                    M[win].masked_fill_(visible, obj.label)
                    Dc.masked_fill_(visible, dj)
    if fill != 0:
        M.masked_fill_((M == 0) & lifted.free, fill)

    labels = M.cpu().numpy().astype(np.int32, copy=False)
    depths = D.cpu().numpy().astype(np.float32)
    area_min, area_max = area_statistics(labels, lifted.n_labels)
    return MovedMasks(labels=labels, depths=depths, area_min=area_min, area_max=area_max)
