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

Splatting cost: the splat radius is capped (:func:`splat_radius_cap`) so that the discs of all
object points cover at most ``points_per_pixel`` times the image, and the splatter streams the
points in (frame, depth rank) order through fixed-size vectorised steps (every cell of many
points' windows at once), keeping per pixel a count and a running transmittance, k deep like a
z-buffer. The work is bounded by frames x pixels x ``points_per_pixel`` and the memory by the
frame size, whatever the track or the depth change; on the CPU it runs on one torch thread
(:data:`SPLAT_CPU_THREADS`). ``python bench/plan.py`` measures it.

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
from .threads import PLANNING_CPU_THREADS, bounded_cpu_threads

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


# Window cells evaluated per vectorised step: bounds the splatter's temporary memory (a few
# MiB), and keeps the pixels a step touches few, so that a crowded pixel rarely meets more
# candidates in one step than it can still keep.
_STEP_CELLS = 1 << 17
# Torch threads the splatter runs on, on the CPU (the planning stage's bound, see .threads).
SPLAT_CPU_THREADS = PLANNING_CPU_THREADS


# The discs of all object points together cover at most this many times points_per_pixel x the
# image area: the image shows points_per_pixel candidates per pixel, so larger discs only add
# candidates that are dropped (see render_moved_masks).
SPLAT_AREA_FACTOR = 1.0


def splat_radius_cap(n_points: int, height: int, width: int, points_per_pixel: int) -> float:
    """The largest splat radius in pixels for ``n_points`` object points in an ``height x width`` frame."""
    if n_points <= 0:
        return float("inf")
    return float(np.sqrt(SPLAT_AREA_FACTOR * points_per_pixel * height * width / (np.pi * n_points)))


class _StepBuffers:
    """Flat work buffers reused by every step of a splat call (a fresh large tensor per step
    costs page faults on every use), grown to the largest step."""

    def __init__(self, device: torch.device, dtype: torch.dtype):
        self.device, self.dtype, self.size = device, dtype, 0

    def get(self, cells: int):
        if cells > self.size:
            self.size = cells
            self.d2 = torch.empty(cells, dtype=self.dtype, device=self.device)
            self.weight = torch.empty(cells, dtype=self.dtype, device=self.device)
            self.ok = torch.empty(cells, dtype=torch.bool, device=self.device)
            self.pix = torch.empty(cells, dtype=torch.int64, device=self.device)
        return self.d2[:cells], self.weight[:cells], self.ok[:cells], self.pix[:cells]


def _window_cells(xs, ys, r2, origin, rows0, cols0, win, height, width, box_w, buffers: _StepBuffers):
    """All cells of the ``win x win`` windows of a step of ``P`` points at once, laid out
    ``(window row, window column, point)`` and flattened.

    ``r2``: the squared radius (one frame's points); ``origin``: the index of image pixel (0, 0)
    of the frame's box (``box_w`` wide) in the stack of boxes. Returns ``(pix, q, ok, weight)``: the cell's index in the box stack,
    ``q = d2 / r2`` (``1 - alpha``) with ``d2`` the squared distance from the point to the pixel
    centre (infinite outside the image), whether the point is a candidate of that pixel
    (``d2 < r2``), and a free buffer of the cells' size; all views of ``buffers``."""
    n_pts = len(xs)
    d2, weight, ok, pix = buffers.get(win * win * n_pts)
    offs = torch.arange(win, device=xs.device)[:, None]
    cols = cols0[None, :] + offs  # (win, P)
    rows = rows0[None, :] + offs
    inf = torch.tensor(float("inf"), dtype=xs.dtype, device=xs.device)
    dx = (cols.to(xs.dtype) + 0.5) - xs[None, :]
    dy = (rows.to(xs.dtype) + 0.5) - ys[None, :]
    dx2 = torch.where((cols >= 0) & (cols < width), dx * dx, inf)  # outside the image: never a candidate
    dy2 = torch.where((rows >= 0) & (rows < height), dy * dy, inf)
    shape = (win, win, n_pts)
    torch.add(dx2[None, :, :], dy2[:, None, :], out=d2.view(shape))
    torch.lt(d2.view(shape), r2, out=ok.view(shape))
    d2.view(shape).div_(r2)  # d2 / r2 = 1 - alpha
    torch.add((rows * box_w + origin)[:, None, :], cols[None, :, :], out=pix.view(shape))
    return pix, d2, ok, weight


def splat_coverage(x: torch.Tensor, y: torch.Tensor, rank: torch.Tensor, valid: torch.Tensor,
                   radius_px: torch.Tensor, height: int, width: int, label: float,
                   points_per_pixel: int = REFERENCE_POINTS_PER_PIXEL) -> torch.Tensor:
    """Which pixels a point cloud covers, per frame: ``(C, H, W)`` bool.

    ``x``, ``y``: ``(C, N)`` projected positions in pixels (pixel ``(r, c)`` has its centre at
    ``(c + 0.5, r + 0.5)``); ``rank``: ``(N,)`` depth order of the points (0 = nearest, ties by
    index); ``valid``: ``(C, N)`` points in front of the camera; ``radius_px``: ``(C,)`` splat
    radius in pixels; ``label``: the feature value that scales the coverage threshold.

    A pixel composites its ``points_per_pixel`` (k) nearest candidates (points closer than the
    radius): covered when ``label * (1 - prod(1 - alpha)) > 0.5``. The points are streamed in
    (frame, rank) order, a step of many points with all cells of their square windows at once
    (at most ``_STEP_CELLS`` cells), like a z-buffer k deep: each pixel counts the candidates it
    has taken and multiplies their ``1 - alpha``. A step's candidates at a pixel that can take
    them all are taken at once, those at a full pixel dropped; only a pixel that fills up within
    the step orders its candidates of that step (by rank, a sort of those few). Time is
    proportional to the number of points times the window area (which the radius cap of
    :func:`render_moved_masks` bounds by the image size times k) and memory to the frame size,
    whatever the depth change; the number of steps, hence of torch operations, to the same.
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
    # Per frame: the points that can reach a pixel (in rank order), and the footprint box.
    radii = radius_px.to(x.dtype).tolist()
    reach = []  # (frame, x, y, radius, window side, box top, left, bottom, right)
    for f, r in enumerate(radii):
        xf, yf = x[f], y[f]
        inside = valid[f] & (xf > 0.5 - r) & (xf < width - 0.5 + r) & (yf > 0.5 - r) & (yf < height - 0.5 + r)
        idx = torch.nonzero(inside, as_tuple=True)[0]
        if len(idx) == 0:
            continue
        xs, ys = xf.index_select(0, idx), yf.index_select(0, idx)
        win = int(np.floor(2 * r)) + 1
        top, left = int(np.floor(float(ys.min()) - 0.5 - r)) + 1, int(np.floor(float(xs.min()) - 0.5 - r)) + 1
        bottom = int(np.floor(float(ys.max()) - 0.5 - r)) + 1 + win
        right = int(np.floor(float(xs.max()) - 0.5 - r)) + 1 + win
        reach.append((f, xs, ys, r, win, min(max(top, 0), height - 1), min(max(left, 0), width - 1),
                      min(max(bottom, 1), height), min(max(right, 1), width)))
    if not reach:
        return []
    # All boxes one size, inside the image.
    box_h = max(b - t for *_, t, _, b, _ in reach)
    box_w = max(r - left for *_, left, _, r in reach)
    box = box_h * box_w
    n_pix = n_frames * box
    tops, lefts = [0] * n_frames, [0] * n_frames
    for f, *_, t, left, _, _ in reach:
        tops[f], lefts[f] = min(t, height - box_h), min(left, width - box_w)

    # Per pixel: candidates taken so far and the product of their (1 - alpha); covered below the
    # threshold.
    threshold = 1.0 - 0.5 / label
    taken = torch.zeros(n_pix, dtype=torch.int64, device=device)
    transmit = torch.ones(n_pix, dtype=x.dtype, device=device)
    buffers = _StepBuffers(device, x.dtype)
    for f, xs, ys, r, win, *_ in reach:
        origin = f * box - lefts[f] - tops[f] * box_w  # index of image pixel (0, 0)
        step = max(1, _STEP_CELLS // (win * win))
        for s0 in range(0, len(xs), step):
            xq, yq = xs[s0:s0 + step], ys[s0:s0 + step]
            cols0 = torch.floor(xq - 0.5 - r).to(torch.int64) + 1
            rows0 = torch.floor(yq - 0.5 - r).to(torch.int64) + 1
            # The step's candidates lie between its windows' corners, inside the frame's box.
            lo = max(f * box, origin + int(rows0.min()) * box_w + int(cols0.min()))
            hi = min((f + 1) * box, origin + (int(rows0.max()) + win - 1) * box_w + int(cols0.max()) + win)
            if hi <= lo:
                continue
            _splat_step(xq, yq, r * r, origin - lo, rows0, cols0, win, height, width, box_w, buffers, k,
                        threshold, taken[lo:hi], transmit[lo:hi])
    covered = (transmit < threshold).view(n_frames, box_h, box_w)
    return [(f, tops[f], lefts[f], covered[f]) for f, *_ in reach]


def _splat_step(xs, ys, r2, origin, rows0, cols0, win, height, width, box_w, buffers, k, threshold, taken,
                transmit):
    """One step of :func:`_splat_boxes`: a run of one frame's points in rank order, against
    ``taken`` and ``transmit`` of the pixels the step can reach (``origin`` is relative to them).

    A pixel whose transmittance is already below ``threshold`` is covered whichever further
    candidates it keeps (each multiplies it by at most 1): it takes them all, unordered."""
    n = len(taken)  # slot n takes the cells that are no candidate
    device = taken.device
    pix, q, ok, weight = _window_cells(xs, ys, r2, origin, rows0, cols0, win, height, width, box_w, buffers)
    pix.masked_fill_(ok.logical_not_(), n)
    count = torch.bincount(pix, minlength=n + 1)[:n]
    over = (taken + count > k) & (transmit >= threshold)  # an undecided pixel that cannot take them all
    if not bool(over.any()):  # every pixel takes all its candidates of this step
        one = torch.ones((), dtype=q.dtype, device=device)
        term = torch.sub(one, torch.sub(one, q, out=q), out=q)  # 1 - alpha, alpha = 1 - q
        transmit *= torch.ones(n + 1, dtype=q.dtype, device=device).scatter_reduce_(0, pix, term, "prod")[:n]
        taken += count
        return
    takes = torch.zeros(n + 1, dtype=q.dtype, device=device)
    takes[:n] = ~over  # the pixel takes all its candidates of this step
    torch.index_select(takes, 0, pix, out=weight)
    fills = (taken < k) & over  # the pixel fills up: its first candidates by rank only
    if bool(fills.any()):
        idx = torch.nonzero(torch.cat([fills, fills.new_zeros(1)]).index_select(0, pix), as_tuple=True)[0]
        n_pts = len(xs)
        cand = pix.index_select(0, idx)
        order = torch.sort(cand * n_pts + idx % n_pts).indices  # by pixel, then rank
        cpix = cand.index_select(0, order)
        pos = torch.arange(len(cpix), device=device)
        start = torch.ones_like(cpix, dtype=torch.bool)
        start[1:] = cpix[1:] != cpix[:-1]
        first = torch.cummax(torch.where(start, pos, torch.zeros_like(pos)), 0).values
        weight[idx.index_select(0, order)] = ((pos - first + taken.index_select(0, cpix)) < k).to(q.dtype)
    # 1 - alpha with alpha = 1 - d2 / r2 for a kept candidate, 1 for a dropped one.
    one = torch.ones((), dtype=q.dtype, device=device)
    term = torch.sub(one, torch.sub(one, q, out=q).mul_(weight), out=q)  # 1 - alpha * weight: weight is 0 or 1
    transmit *= torch.ones(n + 1, dtype=q.dtype, device=device).scatter_reduce_(0, pix, term, "prod")[:n]
    taken += count


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
    with bounded_cpu_threads(lifted.device):  # the whole render: see SPLAT_CPU_THREADS
        return _render(lifted, trajectories, base_radius, points_per_pixel, splat_units, frames, strict_depth_test)


def _render(lifted, trajectories, base_radius, points_per_pixel, splat_units, frames,
            strict_depth_test) -> MovedMasks:
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
