"""The planning stages every front end calls: scene, render, control.

* :func:`build_scene` -- image, reference depth, object and static masks (and whether a camera
  track moves the background) to a :class:`~.scene.Scene`;
* :func:`render_stage` -- scene and tracks (and an optional camera track) to resampled
  trajectories, per-frame moved label and depth maps, and the planning warnings. It renders all
  frames or a chosen subset; the per-scene work (lifting the object pixels to 3D) can be done
  once with :func:`lift_scene` and the result passed instead of the scene;
* :func:`control_stage` -- per-frame label and depth maps to K-means keypoints and the
  ``(F, 3, H, W)`` control maps. Training calls it with its own per-frame labels.

:func:`levitor.planning.plan.build_plan` is the three in a row. The nodes, the CLI, the preview
route and the trainer call these functions and nothing below them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..limits import check_image_size, check_plan_size
from .control import draw_control_maps
from .keypoints import select_keypoints
from .options import SPLAT_UNITS, PlanOptions
from .render import LiftedScene, lift_scene, render_moved_masks
from .scene import Scene, make_scene
from .tracks import parse_tracks, resample_tracks, validate_tracks

__all__ = ["ControlResult", "LiftedScene", "RenderResult", "build_scene", "check_control_options", "check_tracks",
           "control_stage", "lift_scene", "render_stage"]


def build_scene(image: np.ndarray, depth: np.ndarray, object_masks: Sequence[np.ndarray],
                static_masks: Sequence[np.ndarray] = (), options: PlanOptions | None = None, *,
                camera_move: bool = False) -> Scene:
    """The scene stage: validate the inputs and assemble the label map.

    ``image`` ``(H, W, 3)`` uint8; ``depth`` ``(H, W)`` reference depth; ``object_masks`` the
    user masks in selection order; ``static_masks`` the automatic segments in generator order.
    ``camera_move``: the background (every pixel outside the object masks) becomes one more
    moved object, for the camera track of :func:`render_stage`. Reads ``min_area_frac`` and
    ``reference_uint8_wrap`` from ``options``.
    """
    opts = (options or PlanOptions()).validated()
    img = np.asarray(image)
    if img.ndim >= 2:  # before the label map, which takes the time on a large photo
        check_image_size(img.shape[1], img.shape[0])
    return make_scene(image, depth, object_masks, static_masks, min_area_frac=opts.min_area_frac,
                      reference_uint8_wrap=opts.reference_uint8_wrap, camera_move=camera_move)


@dataclass
class RenderResult:
    """What the render stage computes.

    ``trajectories`` ``(n, F, 3)`` resampled tracks of every moved object over all ``F`` frames
    (the camera track last when the scene moves its background); ``frames`` the frame indices
    rendered, in order; ``labels`` ``(len(frames), H, W)`` int32 and ``depths`` float32 the moved
    maps of those frames; ``area_min`` / ``area_max`` the smallest / largest pixel count of each
    label over them (what the control stage's k rule reads).
    """

    scene: Scene
    trajectories: np.ndarray
    frames: list[int]
    labels: np.ndarray
    depths: np.ndarray
    area_min: np.ndarray
    area_max: np.ndarray
    options: PlanOptions
    warnings: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class ControlResult:
    """What the control stage computes: per frame ``(N, 4)`` int64 keypoints
    ``[row, col, label, depth_code]`` and the ``(F, 3, H, W)`` float32 control maps."""

    keypoints: list[np.ndarray]
    control: np.ndarray


def _as_tracks(tracks: Any, scene: Scene, what: str) -> list:
    return parse_tracks(tracks, image_size=(scene.width, scene.height), name=what)


def check_tracks(scene: Scene, tracks: Any, camera_track: Any = None) -> list:
    """One checked track per moved object of ``scene``, the camera track last when it has one.

    ``tracks``: one list of ``(x, y, depth)`` points per object (a :class:`~levitor.planning.tracks.Track`
    keeps its keyframes and easing), or tracks JSON (text or dict).
    ``camera_track``: a list of points, or tracks JSON holding one track; required exactly when
    the scene was built with ``camera_move``.
    """
    checked = _as_tracks(tracks, scene, "tracks")
    if len(checked) != scene.num_tracks:
        raise ValueError(
            f"tracks: {len(checked)} tracks for {scene.num_tracks} object masks; give exactly one track per "
            "object, in the order the masks were selected"
        )
    if scene.camera_move:
        if camera_track is None:
            raise ValueError("camera_track is missing: the scene moves its background, give the camera track")
        if isinstance(camera_track, (str, bytes, dict)):
            camera = _as_tracks(camera_track, scene, "camera_track")
            if len(camera) != 1:
                raise ValueError(f"camera_track: give one track, got {len(camera)}")
        else:
            camera = _as_tracks([camera_track], scene, "camera_track")
        checked.append(camera[0])
    elif camera_track is not None:
        raise ValueError("camera_track is given but the scene has no moving background; build the scene with "
                         "camera_move=True")
    validate_tracks(checked, scene.width, scene.height)
    return checked


def _warnings(scene: Scene, tracks: list, opts: PlanOptions) -> list[str]:
    notes = list(scene.input_warnings)
    if opts.splat_units == "ndc" and opts.base_radius * min(scene.height, scene.width) / 2.0 < 0.75:
        notes.append(f"the image is {scene.width}x{scene.height}: with splat_units 'ndc' the splat radius is under "
                     "a pixel, so moved objects barely render; use splat_units 'pixels'")
    def who(k: int) -> tuple[str, str]:  # (the object, its track)
        return ("the background", "the camera track") if k == scene.num_tracks else (f"object {k}", f"track {k}")

    for k in range(scene.num_objects):
        if not scene.object_present(k):
            notes.append(f"{who(k)[0]} lost all its pixels in the label map (too small, or covered by a later "
                         "larger mask); its track has no effect")
    for k, t in enumerate(tracks):
        if len(t) == 1:
            notes.append(f"{who(k)[1]} has one point: {who(k)[0]} stays in place")
    return notes


def render_stage(scene: Scene | LiftedScene, tracks: Any, options: PlanOptions | None = None, *,
                 camera_track: Any = None, frames: Sequence[int] | None = None, device: Any = None) -> RenderResult:
    """The render stage: move every object along its track and render the per-frame maps.

    ``scene``: a :class:`Scene` from :func:`build_scene`, or a :class:`LiftedScene` from
    :func:`lift_scene` (the per-scene work done once, e.g. for a live preview; ``device`` is
    then the lifted scene's). ``tracks`` and ``camera_track``: see :func:`check_tracks`.
    ``frames``: the frame indices to render (default all ``options.num_frames``); each rendered
    frame is identical to the same frame of a full render. Reads ``num_frames``,
    ``base_radius``, ``points_per_pixel`` and ``splat_units`` from ``options``.
    """
    opts = (options or PlanOptions()).validated()
    plain = scene.scene if isinstance(scene, LiftedScene) else scene
    check_image_size(plain.width, plain.height)
    check_plan_size(opts.num_frames, plain.width, plain.height)
    if opts.splat_units not in SPLAT_UNITS:
        raise ValueError(f"splat_units must be one of {', '.join(SPLAT_UNITS)}, got {opts.splat_units!r}")
    checked = check_tracks(plain, tracks, camera_track)
    notes = _warnings(plain, checked, opts)
    trajectories = resample_tracks(checked, opts.num_frames)
    moved = render_moved_masks(scene, trajectories, device=device, base_radius=opts.base_radius,
                               points_per_pixel=opts.points_per_pixel, splat_units=opts.splat_units, frames=frames,
                               strict_depth_test=opts.strict_depth_test)
    rendered = list(range(opts.num_frames)) if frames is None else [int(f) for f in frames]
    return RenderResult(scene=plain, trajectories=trajectories, frames=rendered, labels=moved.labels,
                        depths=moved.depths, area_min=moved.area_min, area_max=moved.area_max, options=opts,
                        warnings=notes)


def check_control_options(options: PlanOptions) -> PlanOptions:
    """The control stage's checks of its options, for a caller to make before slow work: every
    number against :mod:`levitor.limits` (:meth:`PlanOptions.validated`)."""
    return options.validated()


def control_stage(labels: np.ndarray, depths: np.ndarray, num_objects: int, options: PlanOptions | None = None, *,
                  area_min: np.ndarray | None = None, area_max: np.ndarray | None = None,
                  check: Callable[[], None] | None = None) -> ControlResult:
    """The control stage: K-means keypoints per frame and the control maps.

    ``labels`` ``(F, H, W)`` int and ``depths`` ``(F, H, W)`` reference depth per frame, from
    :func:`render_stage` or a dataset; labels ``1..num_objects`` are moved objects (they get at
    least ``k_rule.k_min_forced`` points). ``area_min`` / ``area_max`` default to the labels' own
    statistics. ``check`` is called between the two steps (a cancel hook). Reads ``ratio``,
    ``radius``, ``use_id``, ``use_depth``, ``k_rule``, ``safe_k`` and ``reference_uint8_wrap``.
    """
    opts = check_control_options(options or PlanOptions())
    labels = np.asarray(labels)
    keypoints = select_keypoints(labels, depths, num_objects, ratio=opts.ratio, area_min=area_min,
                                 area_max=area_max, rule=opts.k_rule, safe_k=opts.safe_k)
    if check is not None:
        check()
    height, width = labels.shape[1:]
    control = draw_control_maps(keypoints, height, width, opts.radius, use_id=opts.use_id, use_depth=opts.use_depth,
                                reference_uint8_wrap=opts.reference_uint8_wrap)
    return ControlResult(keypoints=keypoints, control=control)
