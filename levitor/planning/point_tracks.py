"""Point tracks of a 3D plan: where chosen points of each object are in every frame, and whether
they can be seen there, for video models conditioned on point trajectories (Wan-Move, ATI).

Points are spread over each object's pixels in the first frame's label map (farthest-point
sampling that keeps away from the object's edges: deterministic, no seed), moved with the
render's own lift / move / project step (:func:`levitor.planning.motion.project_moved`) along the
tracks resampled by the render stage, and judged visible in a frame when the render's label map
of that frame shows the point's object at the point's pixel: in the frame, in front of the camera
and not behind a nearer surface, with exactly the render's occlusion test.

Optional static anchors are spread over the background (every pixel outside the user objects):
they stay where they are (with a camera track they move with the background) and pin the scene.
An anchor is visible where no user object covers it.

Coordinates are continuous pixel positions of the output video in which pixel ``k`` covers
``k <= x < k + 1`` (the convention of ComfyUI's track nodes, which take ``x // 8`` as the latent
column); a point sampled on pixel ``(column c, row r)`` starts at ``(c, r)``, where the render
places it. With an ``output_size`` the plan's coordinates are mapped as ComfyUI resizes the start
image for the Wan image-to-video nodes: the centre crop to the output's aspect ratio, then a
uniform scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from scipy.ndimage import distance_transform_edt

from ..limits import IMAGE_SIDE, MAX_POINT_TRACKS, POINTS_PER_OBJECT, STATIC_POINTS, check_plan_size
from .motion import motion_deltas, project_moved
from .options import make_options
from .stages import build_scene, check_tracks, render_stage
from .tracks import resample_tracks

__all__ = ["PointTracks", "point_tracks", "sample_points", "output_mapping", "fit_to_output", "DEFAULT_POINTS_PER_OBJECT",
           "DEFAULT_STATIC_POINTS", "DEFAULT_NUM_FRAMES"]

DEFAULT_POINTS_PER_OBJECT = 48  # a few dozen spread points carry a rigid motion; more cover more latent cells
DEFAULT_STATIC_POINTS = 16
DEFAULT_NUM_FRAMES = 81  # Wan 2.1's default length (4k + 1 frames)
_FPS_CANDIDATES = 20000  # farthest-point sampling looks at most at this many pixels of a region


@dataclass
class PointTracks:
    """Point trajectories of a plan.

    ``paths`` ``(T, N, 2)`` float32 ``(x, y)`` in pixels of the output; ``visibility`` ``(T, N)``
    bool; ``objects`` ``(N,)`` int32, the object each point belongs to (``k + 1`` for track *k*,
    ``0`` for a static anchor); ``size`` the output's ``(width, height)``; ``trajectories`` the
    ``(n, T, 3)`` resampled tracks that moved them (the camera track last when there is one);
    ``warnings`` the planning warnings.
    """

    paths: np.ndarray
    visibility: np.ndarray
    objects: np.ndarray
    size: tuple[int, int]
    trajectories: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.paths.shape[0])

    @property
    def num_points(self) -> int:
        return int(self.paths.shape[1])


def output_mapping(width: int, height: int, output_size: Sequence[int] | None) -> tuple[float, float, float, float]:
    """``(x0, y0, sx, sy)``: a plan position ``(x, y)`` is at ``((x - x0) * sx, (y - y0) * sy)`` in
    an output of ``output_size = (width, height)`` (default the plan's size): the centre crop to
    the output's aspect ratio and the scale ComfyUI applies to the start image of its Wan nodes."""
    if output_size is None:
        return 0.0, 0.0, 1.0, 1.0
    try:
        out_w, out_h = output_size
    except (TypeError, ValueError):
        raise ValueError(f"output_size must be (width, height), got {output_size!r}") from None
    out_w = IMAGE_SIDE.check(out_w, "output width")
    out_h = IMAGE_SIDE.check(out_h, "output height")
    old_aspect, new_aspect = width / height, out_w / out_h
    x0 = y0 = 0
    if old_aspect > new_aspect:
        x0 = round((width - width * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y0 = round((height - height * (old_aspect / new_aspect)) / 2)
    return float(x0), float(y0), out_w / (width - 2 * x0), out_h / (height - 2 * y0)


def fit_to_output(image: np.ndarray, output_size: Sequence[int] | None) -> np.ndarray:
    """``image`` ``(H, W, 3)`` uint8 centre-cropped and resized (bilinear) to ``output_size``
    ``(width, height)`` as :func:`output_mapping` maps positions (unchanged when it is None)."""
    img = np.asarray(image)
    if output_size is None:
        return img
    height, width = img.shape[:2]
    x0, y0, _, _ = output_mapping(width, height, output_size)
    crop = img[int(y0):height - int(y0), int(x0):width - int(x0)]
    out_w, out_h = int(output_size[0]), int(output_size[1])
    return np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((out_w, out_h), Image.BILINEAR))


def sample_points(region: np.ndarray, count: int) -> np.ndarray:
    """``(k, 2)`` int64 ``(column, row)`` of up to ``count`` pixels of the bool mask ``region``,
    spread out and away from its edges (and the image's): farthest-point sampling in which the
    region's boundary counts as already chosen, starting from the pixel deepest inside (ties by
    raster order). Every pixel when the region has ``count`` or fewer; deterministic."""
    mask = np.asarray(region, dtype=bool)
    rows, cols = np.nonzero(mask)
    if len(rows) == 0 or count <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    if len(rows) <= count:
        return np.stack([cols, rows], axis=1).astype(np.int64)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1  # the region's box is enough
    inside = np.zeros(mask.shape)
    inside[r0:r1, c0:c1] = distance_transform_edt(np.pad(mask[r0:r1, c0:c1], 1))[1:-1, 1:-1]
    if len(rows) > _FPS_CANDIDATES:  # a regular subset of the pixels (raster order keeps it deterministic)
        keep = np.linspace(0, len(rows) - 1, _FPS_CANDIDATES).round().astype(np.int64)
        rows, cols = rows[keep], cols[keep]
    pts = np.stack([cols, rows], axis=1).astype(np.float64)
    dist = inside[rows, cols].astype(np.float64) ** 2
    chosen = []
    for _ in range(count):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, ((pts - pts[nxt]) ** 2).sum(axis=1))
    return pts[chosen].astype(np.int64)


def point_tracks(image: np.ndarray, depth: np.ndarray, object_masks: Sequence[np.ndarray],
                 static_masks: Sequence[np.ndarray], tracks: Any, num_frames: int = DEFAULT_NUM_FRAMES, *,
                 camera_track: Any = None, points_per_object: int = DEFAULT_POINTS_PER_OBJECT,
                 static_points: int = DEFAULT_STATIC_POINTS, output_size: Sequence[int] | None = None,
                 occlusion: bool = True, device: Any = None, **options: Any) -> PointTracks:
    """Point tracks of the 3D plan of ``image``: see the module's text.

    ``image``, ``depth``, ``object_masks``, ``static_masks``, ``tracks`` and ``camera_track`` as
    for :func:`levitor.planning.plan.build_plan` (tracks JSON or one point list per object; the
    camera track moves the background). ``num_frames`` any frame count (Wan: ``4k + 1``, 81 by
    default). ``points_per_object`` points per moved object, ``static_points`` anchors on the
    background (0: none). ``output_size`` ``(width, height)`` of the video (default the image's).
    ``occlusion=False`` skips the render: visibility is then only "in the frame and in front of
    the camera" (for consumers that ignore visibility). Further keyword options are the render
    stage's fields of :class:`~levitor.planning.options.PlanOptions`.
    """
    per_object = POINTS_PER_OBJECT.check(points_per_object)
    n_static = STATIC_POINTS.check(static_points)
    opts = make_options("point tracks", num_frames=num_frames, **options).validated()
    scene = build_scene(image, depth, object_masks, static_masks, opts, camera_move=camera_track is not None)
    check_plan_size(opts.num_frames, scene.width, scene.height)
    n_user = scene.num_tracks
    total = n_user * per_object + n_static
    if total > MAX_POINT_TRACKS:
        raise ValueError(f"{n_user} objects x points_per_object {per_object} + static_points {n_static} = {total} "
                         f"point tracks, above the {MAX_POINT_TRACKS} allowed; ask for fewer points")
    x0, y0, sx, sy = output_mapping(scene.width, scene.height, output_size)
    out_w = int(output_size[0]) if output_size is not None else scene.width
    out_h = int(output_size[1]) if output_size is not None else scene.height

    if occlusion:  # the render bounds its torch threads itself (see .threads)
        rendered = render_stage(scene, tracks, opts, camera_track=camera_track, device=device)
        trajectories, labels, notes = rendered.trajectories, rendered.labels, rendered.warnings
    else:  # the render stage's checks and resampling, without the render
        trajectories = resample_tracks(check_tracks(scene, tracks, camera_track), opts.num_frames)
        labels, notes = None, []
    deltas = motion_deltas(trajectories) if len(trajectories) else np.zeros((0, opts.num_frames, 3))

    labels0 = scene.labels
    depth0 = np.asarray(scene.depth, dtype=np.float64)
    # (sampled pixels, index of the moved object that carries them or -1, owner id in the output)
    groups: list[tuple[np.ndarray, int, int]] = []
    for k in range(n_user):
        groups.append((sample_points(labels0 == k + 1, per_object), k, k + 1))
    if n_static:
        if scene.camera_move:  # the background is the last moved object
            background = labels0 == n_user + 1
        else:  # unlabelled pixels and static segments
            background = (labels0 == 0) | (labels0 > n_user)
        groups.append((sample_points(background, n_static), n_user if scene.camera_move else -1, 0))

    paths, visible, owners = [], [], []
    frames = np.arange(opts.num_frames)
    for pix, mover, owner in groups:
        if len(pix) == 0:
            continue
        u = pix[None, :, 0].astype(np.float64)
        v = pix[None, :, 1].astype(np.float64)
        z = depth0[pix[:, 1], pix[:, 0]][None, :]
        if mover >= 0:
            d = deltas[mover]
            x, y, _, valid = project_moved(u, v, z, d[:, 0:1], d[:, 1:2], d[:, 2:3], scene.width, scene.height)
        else:
            x, y = np.repeat(u, opts.num_frames, 0), np.repeat(v, opts.num_frames, 0)
            valid = np.ones(x.shape, dtype=bool)
        x, y = np.broadcast_to(x, (opts.num_frames, len(pix))), np.broadcast_to(y, (opts.num_frames, len(pix)))
        ox, oy = (x - x0) * sx, (y - y0) * sy
        seen = valid & (ox >= 0) & (ox < out_w) & (oy >= 0) & (oy < out_h)
        if labels is not None:
            col = np.clip(np.floor(x), 0, scene.width - 1).astype(np.int64)
            row = np.clip(np.floor(y), 0, scene.height - 1).astype(np.int64)
            shown = labels[frames[:, None], row, col]
            if mover >= 0:
                seen &= shown == mover + 1
            else:
                seen &= (shown == 0) | (shown > n_user)
        paths.append(np.stack([ox, oy], axis=-1))
        visible.append(seen)
        owners.append(np.full(len(pix), owner, dtype=np.int32))
    if paths:
        all_paths = np.concatenate(paths, axis=1).astype(np.float32)
        all_visible = np.concatenate(visible, axis=1)
        all_owners = np.concatenate(owners)
    else:
        all_paths = np.zeros((opts.num_frames, 0, 2), dtype=np.float32)
        all_visible = np.zeros((opts.num_frames, 0), dtype=bool)
        all_owners = np.zeros((0,), dtype=np.int32)
    return PointTracks(paths=all_paths, visibility=all_visible, objects=all_owners, size=(out_w, out_h),
                       trajectories=trajectories, warnings=list(notes))
