"""One call from image, depth, masks and tracks to per-frame masks, keypoints and control maps."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from ..limits import (BASE_RADIUS, MIN_AREA_FRAC, NUM_FRAMES, POINTS_PER_PIXEL, RADIUS, RATIO, check_image_size,
                      check_plan_size)
from .control import draw_control_maps
from .keypoints import KRule, select_keypoints
from .render import render_moved_masks
from .scene import Scene, make_scene
from .tracks import parse_tracks, resample_tracks, validate_tracks


@dataclass
class PlanOptions:
    """Every knob of the planning stage; the defaults are the reference's.

    ``wrap_uint8`` reproduces the reference's 8-bit wrap-around of labels above 255 and of depth
    codes above 255 (by default labels keep their value and depth codes clip at 255).
    ``clamp_k`` caps k at the number of subsampled pixels of a region (the reference raises).
    ``strict_depth_test`` is the reference's strict occlusion test, under which an object at track
    depth 1.0 is never drawn over free pixels (by default a tie at the far plane draws it).
    Ranges: :mod:`levitor.limits`.
    """

    num_frames: int = 16
    ratio: float = 1.0
    radius: int = 10  # heatmap patch half-size (the reference's gaussian_r)
    use_id: bool = True
    use_depth: bool = True
    min_area_frac: float = 0.001
    base_radius: float = 0.011
    points_per_pixel: int = 10
    splat_units: str = "pixels"  # "ndc": the reference's resolution-dependent splat size
    k_rule: KRule = field(default_factory=KRule)
    clamp_k: bool = True
    wrap_uint8: bool = False
    strict_depth_test: bool = False

    def validated(self) -> "PlanOptions":
        """A copy with every number checked against :mod:`levitor.limits` (ValueError naming it)."""
        return replace(self, num_frames=NUM_FRAMES.check(self.num_frames), ratio=RATIO.check(self.ratio),
                       radius=RADIUS.check(self.radius), min_area_frac=MIN_AREA_FRAC.check(self.min_area_frac),
                       base_radius=BASE_RADIUS.check(self.base_radius),
                       points_per_pixel=POINTS_PER_PIXEL.check(self.points_per_pixel))


@dataclass
class PlanResult:
    """Everything the planning stage computes.

    ``labels`` ``(F, H, W)`` int32 and ``depths`` ``(F, H, W)`` float32 per-frame maps;
    ``keypoints`` a list over frames of ``(N, 4)`` int64 ``[row, col, label, depth_code]``;
    ``control`` ``(F, 3, H, W)`` float32; ``trajectories`` ``(n, F, 3)`` resampled tracks.
    """

    scene: Scene
    trajectories: np.ndarray
    labels: np.ndarray
    depths: np.ndarray
    keypoints: list[np.ndarray]
    control: np.ndarray
    options: PlanOptions
    warnings: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.labels.shape[0])


def _check_tracks(tracks: Any, scene: Scene) -> list:
    tracks = parse_tracks(tracks, image_size=(scene.width, scene.height))
    if len(tracks) != scene.num_objects:
        raise ValueError(
            f"tracks: {len(tracks)} tracks for {scene.num_objects} object masks; give exactly one track per object, "
            "in the order the masks were selected"
        )
    validate_tracks(tracks, scene.width, scene.height)
    return tracks


def plan_scene(scene: Scene, tracks: Any, options: PlanOptions | None = None, *, device: Any = None) -> PlanResult:
    """Plan a prepared :class:`Scene` (see :func:`build_plan`)."""
    opts = (options or PlanOptions()).validated()
    check_image_size(scene.width, scene.height)
    check_plan_size(opts.num_frames, scene.width, scene.height)
    tracks = _check_tracks(tracks, scene)
    notes: list[str] = []
    for k in range(scene.num_objects):
        if not scene.object_present(k):
            notes.append(
                f"object {k} lost all its pixels in the label map (too small, or covered by a later larger mask); "
                "its track has no effect"
            )
    for k, t in enumerate(tracks):
        if len(t) == 1:
            notes.append(f"track {k} has one point: object {k} stays in place")
    trajectories = resample_tracks(tracks, opts.num_frames)
    moved = render_moved_masks(scene, trajectories, device=device, base_radius=opts.base_radius,
                               points_per_pixel=opts.points_per_pixel, splat_units=opts.splat_units,
                               strict_depth_test=opts.strict_depth_test)
    keypoints = select_keypoints(moved.labels, moved.depths, scene.num_objects, ratio=opts.ratio,
                                 area_min=moved.area_min, area_max=moved.area_max, rule=opts.k_rule,
                                 clamp_k=opts.clamp_k)
    control = draw_control_maps(keypoints, scene.height, scene.width, opts.radius, use_id=opts.use_id,
                                use_depth=opts.use_depth, wrap_uint8=opts.wrap_uint8)
    return PlanResult(scene=scene, trajectories=trajectories, labels=moved.labels, depths=moved.depths,
                      keypoints=keypoints, control=control, options=opts, warnings=notes)


def build_plan(image: np.ndarray, depth: np.ndarray, object_masks: Sequence[np.ndarray],
               static_masks: Sequence[np.ndarray], tracks: Any, num_frames: int = 16, ratio: float = 1.0,
               *, device: Any = None, **options: Any) -> PlanResult:
    """Run the whole planning stage.

    ``image`` ``(H, W, 3)`` uint8; ``depth`` ``(H, W)`` reference depth (``1/d8``, smaller =
    nearer, 1.0 = far); ``object_masks`` the user masks in selection order and ``static_masks``
    the automatic segments in the order SAM's automatic mask generator returns them, each a list
    of ``(H, W)`` bool arrays; ``tracks`` one list of clicked ``(x, y, depth)`` points per object
    (or tracks JSON text). Further keyword options are fields of :class:`PlanOptions`.
    """
    unknown = set(options) - set(PlanOptions.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown plan option(s): {', '.join(sorted(unknown))}")
    opts = PlanOptions(num_frames=num_frames, ratio=ratio, **options).validated()
    img = np.asarray(image)
    if img.ndim >= 2:
        check_image_size(img.shape[1], img.shape[0])
        check_plan_size(opts.num_frames, img.shape[1], img.shape[0])
    scene = make_scene(image, depth, object_masks, static_masks, min_area_frac=opts.min_area_frac,
                       wrap_uint8=opts.wrap_uint8)
    return plan_scene(scene, tracks, opts, device=device)
