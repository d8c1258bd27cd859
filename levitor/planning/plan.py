"""One call from image, depth, masks and tracks to per-frame masks, keypoints and control maps:
the scene, render and control stages of :mod:`.stages` in a row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .options import PlanOptions, make_options
from .scene import Scene
from .stages import RenderResult, build_scene, check_control_options, control_stage, render_stage

__all__ = ["PlanOptions", "PlanResult", "build_plan", "plan_from_render", "plan_scene"]


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


def plan_from_render(rendered: RenderResult, options: PlanOptions | None = None, *,
                     check: Callable[[], None] | None = None) -> PlanResult:
    """Run the control stage on a render and collect a :class:`PlanResult` (``options``
    defaults to the render's own)."""
    opts = options or rendered.options
    scene = rendered.scene
    ctrl = control_stage(rendered.labels, rendered.depths, scene.num_objects, opts, area_min=rendered.area_min,
                         area_max=rendered.area_max, check=check)
    return PlanResult(scene=scene, trajectories=rendered.trajectories, labels=rendered.labels,
                      depths=rendered.depths, keypoints=ctrl.keypoints, control=ctrl.control, options=opts,
                      warnings=list(rendered.warnings))


def plan_scene(scene: Scene, tracks: Any, options: PlanOptions | None = None, *, camera_track: Any = None,
               device: Any = None) -> PlanResult:
    """Plan a prepared :class:`Scene` (see :func:`build_plan`)."""
    opts = check_control_options(options or PlanOptions())  # before the render, which takes the time
    return plan_from_render(render_stage(scene, tracks, opts, camera_track=camera_track, device=device), opts)


def build_plan(image: np.ndarray, depth: np.ndarray, object_masks: Sequence[np.ndarray],
               static_masks: Sequence[np.ndarray], tracks: Any, num_frames: int = PlanOptions.num_frames,
               ratio: float = PlanOptions.ratio, *, camera_track: Any = None, device: Any = None,
               **options: Any) -> PlanResult:
    """Run the whole planning stage.

    ``image`` ``(H, W, 3)`` uint8; ``depth`` ``(H, W)`` reference depth (``1/d8``, smaller =
    nearer, 1.0 = far); ``object_masks`` the user masks in selection order and ``static_masks``
    the automatic segments in the order SAM's automatic mask generator returns them, each a list
    of ``(H, W)`` bool arrays; ``tracks`` one list of clicked ``(x, y, depth)`` points per object
    (or tracks JSON text). ``camera_track`` (a list of points, or tracks JSON with one track)
    moves the background, every pixel outside the object masks, as one more object. Further
    keyword options are fields of :class:`PlanOptions`.
    """
    opts = make_options(num_frames=num_frames, ratio=ratio, **options)
    scene = build_scene(image, depth, object_masks, static_masks, opts, camera_move=camera_track is not None)
    return plan_scene(scene, tracks, opts, camera_track=camera_track, device=device)
