"""LeviTorRenderMovedMasks and LeviTorKMeansControlPoints: from tracks to control maps."""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from levitor import limits
from levitor.planning.plan import PlanOptions
from levitor.preview import render_label_preview

from . import convert, host
from .api import Control, Masks, Tracks, check_choices, io
from .sockets import CATEGORY, MovedMaskSet, TrackSet

log = logging.getLogger(__name__)

CAMERA_MODES = ("off", "last track moves the background")
SPLAT_UNITS = ("pixels", "ndc")


def background_mask(object_masks: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """Every pixel that belongs to no object mask."""
    covered = np.zeros((height, width), dtype=bool)
    for m in object_masks:
        covered |= m
    return ~covered


def render_track_set(track_set: TrackSet, num_frames: int, camera_move: str, static_masks: list[np.ndarray] | None,
                     *, min_area_frac: float = 0.001, base_radius: float = 0.011, points_per_pixel: int = 10,
                     wrap_uint8: bool = False, splat_units: str = "pixels", device=None) -> MovedMaskSet:
    """Build the scene and render its per-frame label and depth maps.

    With ``camera_move`` on, the background (everything outside the object masks) becomes one
    more moved object that follows the camera track (the last track).
    """
    from levitor.planning.plan import PlanOptions
    from levitor.planning.render import render_moved_masks
    from levitor.planning.scene import make_scene
    from levitor.planning.tracks import resample_tracks

    if camera_move not in CAMERA_MODES:
        raise ValueError(f"camera_move must be one of {', '.join(CAMERA_MODES)}, got {camera_move!r}")
    if num_frames < 2:
        raise ValueError(f"num_frames must be at least 2, got {num_frames}")
    objects = list(track_set.object_masks)
    tracks = list(track_set.tracks)
    notes = list(track_set.notes)
    if camera_move == "off":
        if track_set.has_camera_track:
            tracks = tracks[: len(objects)]
            notes.append("camera_move is off: the camera track is ignored")
    else:
        if not track_set.has_camera_track:
            raise ValueError(
                f"camera_move needs a camera track: draw {len(objects) + 1} tracks for {len(objects)} objects, "
                "the last one moving the background"
            )
        bg = background_mask(objects, track_set.height, track_set.width)
        if not bg.any():
            raise ValueError("camera_move: the object masks cover the whole image, there is no background to move")
        objects.append(bg)
    statics = track_set.static_masks if static_masks is None else static_masks
    options = PlanOptions(num_frames=int(num_frames), min_area_frac=float(min_area_frac),
                          base_radius=float(base_radius), points_per_pixel=int(points_per_pixel),
                          wrap_uint8=bool(wrap_uint8), splat_units=str(splat_units))
    scene = make_scene(track_set.image, track_set.depth, objects, statics, min_area_frac=options.min_area_frac,
                       wrap_uint8=options.wrap_uint8)
    if options.splat_units == "ndc" and options.base_radius * min(scene.height, scene.width) / 2.0 < 0.75:
        notes.append(f"the image is {scene.width}x{scene.height}: with splat_units 'ndc' the splat radius is under "
                     "a pixel, so moved objects barely render; use splat_units 'pixels'")
    for k in range(scene.num_objects):
        if not scene.object_present(k):
            notes.append(f"object {k} lost all its pixels in the label map (too small or covered); it will not move")
    trajectories = resample_tracks(tracks, options.num_frames)
    moved = render_moved_masks(scene, trajectories, device=device, base_radius=options.base_radius,
                               points_per_pixel=options.points_per_pixel, splat_units=options.splat_units)
    return MovedMaskSet(scene=scene, trajectories=trajectories, labels=moved.labels, depths=moved.depths,
                        area_min=moved.area_min, area_max=moved.area_max, options=options, notes=notes)


def plan_from_masks(masks: MovedMaskSet, *, ratio: float = 1.0, use_id: bool = True, use_depth: bool = True,
                    radius: int = 10, clamp_k: bool = True, check=None):
    """K-means control points and control maps for rendered masks, as a ``levitor.planning.plan.PlanResult``."""
    from dataclasses import replace

    from levitor.planning.control import draw_control_maps
    from levitor.planning.keypoints import select_keypoints
    from levitor.planning.plan import PlanResult

    if not np.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"ratio must be a positive number, got {ratio!r}")
    if radius < 1:
        raise ValueError(f"radius must be at least 1 pixel, got {radius}")
    opts = replace(masks.options, ratio=float(ratio), use_id=bool(use_id), use_depth=bool(use_depth),
                   radius=int(radius), clamp_k=bool(clamp_k))
    scene = masks.scene
    keypoints = select_keypoints(masks.labels, masks.depths, scene.num_objects, ratio=opts.ratio,
                                 area_min=masks.area_min, area_max=masks.area_max, rule=opts.k_rule,
                                 clamp_k=opts.clamp_k)
    if check is not None:
        check()
    control = draw_control_maps(keypoints, scene.height, scene.width, opts.radius, use_id=opts.use_id,
                                use_depth=opts.use_depth, wrap_uint8=opts.wrap_uint8)
    return PlanResult(scene=scene, trajectories=masks.trajectories, labels=masks.labels, depths=masks.depths,
                      keypoints=keypoints, control=control, options=opts, warnings=list(masks.notes))


def control_preview(plan) -> np.ndarray:
    """Label maps with the control points, and the heatmap channel laid over them in red."""
    frames = render_label_preview(plan.scene.image, plan.labels, plan.keypoints, plan.trajectories)
    heat = np.clip(plan.control[:, 0] / 255.0, 0.0, 1.0)[..., None] * 0.6
    red = np.array([255.0, 40.0, 0.0], dtype=np.float32)
    out = frames.astype(np.float32) * (1.0 - heat) + red * heat
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


_PLAN = PlanOptions()  # the reference's planning defaults


class LeviTorRenderMovedMasks(io.ComfyNode):
    """Node: move the objects along their 3D tracks and render per-frame masks with occlusion."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LeviTorRenderMovedMasks",
            display_name="LeviTor Render Moved Masks",
            category=CATEGORY,
            description=(
                "Lifts every object's pixels to 3D with the depth map, moves them along the tracks (PCHIP-resampled "
                "to the frame count) and renders per-frame label and depth maps with occlusion and perspective "
                "scaling. Static segments keep the rest of the scene in place. The camera move option treats the "
                "background as one more moved object that follows the last (camera) track."
            ),
            inputs=[
                Tracks.Input("tracks", tooltip="Scene and tracks from LeviTorTrajectory3DEditor."),
                io.Int.Input("num_frames", default=_PLAN.num_frames, step=1, **limits.NUM_FRAMES.widget(),
                             tooltip="Frames to render; SVD-xt LeviTor was trained on 16."),
                io.Combo.Input("camera_move", options=list(CAMERA_MODES), default=CAMERA_MODES[0],
                               tooltip="Move the background as one more object along the last (camera) track, for "
                                       "a camera motion."),
                io.Mask.Input("static_segments", optional=True,
                              tooltip="Static segments (LeviTorSceneSegments or any MASK batch, in generator "
                                      "order); replaces the editor's ones."),
                io.Float.Input("min_area_frac", default=_PLAN.min_area_frac, step=0.0005, optional=True,
                               **limits.MIN_AREA_FRAC.widget(),
                               tooltip="Segments not larger than this fraction of the image are dropped "
                                       "(reference 0.001)."),
                io.Int.Input("points_per_pixel", default=_PLAN.points_per_pixel, optional=True,
                             **limits.POINTS_PER_PIXEL.widget(),
                             tooltip="Splatting depth: nearest points kept per pixel (reference 10)."),
                io.Float.Input("base_radius", default=_PLAN.base_radius, step=0.001, optional=True,
                               **limits.BASE_RADIUS.widget(),
                               tooltip="Splat radius in normalised device units (reference 0.011); it grows as "
                                       "objects come nearer."),
                io.Combo.Input("splat_units", options=list(SPLAT_UNITS), default=_PLAN.splat_units, optional=True,
                               tooltip="pixels: one unit is 144 px at every image size (the reference's own scale "
                                       "at 288 px wide); ndc: half the shorter image side, as the reference's code "
                                       "(splats vanish on small images)."),
                io.Boolean.Input("reference_uint8_wrap", default=_PLAN.wrap_uint8, optional=True,
                                 tooltip="Reproduce the reference's 8-bit wrap-around of labels and depth codes "
                                         "above 255."),
            ],
            outputs=[
                Masks.Output("moved_masks", display_name="moved_masks",
                             tooltip="Per-frame label and depth maps for LeviTorKMeansControlPoints."),
                io.Image.Output("preview", display_name="preview",
                                tooltip="The coloured label map of every frame over the start image, with the track "
                                        "paths."),
            ],
        )

    @classmethod
    def validate_inputs(cls, camera_move, splat_units=None):
        return check_choices(camera_move=(camera_move, CAMERA_MODES), splat_units=(splat_units, SPLAT_UNITS))

    @classmethod
    def execute(cls, tracks, num_frames, camera_move, static_segments=None, min_area_frac=_PLAN.min_area_frac,
                points_per_pixel=_PLAN.points_per_pixel, base_radius=_PLAN.base_radius,
                reference_uint8_wrap=_PLAN.wrap_uint8, splat_units=_PLAN.splat_units) -> io.NodeOutput:
        if not isinstance(tracks, TrackSet):
            raise ValueError("tracks must come from LeviTorTrajectory3DEditor (a LEVITOR_TRACKS output)")
        statics = None
        if static_segments is not None:
            statics = convert.masks_to_list(static_segments, name="static_segments",
                                            size=(tracks.height, tracks.width))
        bar = host.progress_bar(2)
        host.check_interrupted()
        moved = render_track_set(tracks, int(num_frames), camera_move, statics, min_area_frac=min_area_frac,
                                 base_radius=base_radius, points_per_pixel=points_per_pixel,
                                 wrap_uint8=reference_uint8_wrap, splat_units=splat_units,
                                 device=host.torch_device())
        bar.update(1)
        for note in moved.notes:
            log.warning("LeviTorRenderMovedMasks: %s", note)
        preview = render_label_preview(moved.scene.image, moved.labels, None, moved.trajectories)
        bar.update(1)
        return io.NodeOutput(moved, convert.numpy_to_image(preview))


class LeviTorKMeansControlPoints(io.ComfyNode):
    """Node: K-means control points per frame and the 3-channel control maps."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LeviTorKMeansControlPoints",
            display_name="LeviTor K-Means Control Points",
            category=CATEGORY,
            description=(
                "Picks K-means points in every labelled region of every frame (adaptive k, more for large regions "
                "and moved objects) and draws the control maps the ControlNet reads: a Gaussian heatmap, the "
                "instance id and the depth code per point. ratio scales the number of points: small = non-rigid "
                "motion, large = rigid."
            ),
            inputs=[
                Masks.Input("moved_masks", tooltip="Per-frame masks from LeviTorRenderMovedMasks."),
                io.Float.Input("ratio", default=_PLAN.ratio, step=0.05, **limits.RATIO.widget(),
                               tooltip="Scales the points per region: small = few points (non-rigid motion), "
                                       "large = many (rigid)."),
                io.Boolean.Input("use_id", default=_PLAN.use_id,
                                 tooltip="Write instance ids into channel 1 (the model was trained with them)."),
                io.Boolean.Input("use_depth", default=_PLAN.use_depth,
                                 tooltip="Write depth codes into channel 2 (the model was trained with them)."),
                io.Int.Input("radius", default=_PLAN.radius, optional=True, **limits.RADIUS.widget(),
                             tooltip="Half size in pixels of each point's heatmap patch (reference 10)."),
                io.Boolean.Input("safe_k", default=_PLAN.clamp_k, optional=True,
                                 tooltip="Cap k at the pixels a region has (the reference raises there instead)."),
            ],
            outputs=[
                Control.Output("control", display_name="control",
                               tooltip="Control maps (F, 3, H, W) with the plan they came from, for LeviTorSampler."),
                io.Image.Output("preview", display_name="preview",
                                tooltip="Label maps with the control points and their heatmap (red) per frame."),
            ],
        )

    @classmethod
    def execute(cls, moved_masks, ratio, use_id, use_depth, radius=_PLAN.radius,
                safe_k=_PLAN.clamp_k) -> io.NodeOutput:
        if not isinstance(moved_masks, MovedMaskSet):
            raise ValueError("moved_masks must come from LeviTorRenderMovedMasks (a LEVITOR_MASKS output)")
        bar = host.progress_bar(2)
        host.check_interrupted()
        plan = plan_from_masks(moved_masks, ratio=float(ratio), use_id=use_id, use_depth=use_depth,
                               radius=int(radius), clamp_k=safe_k, check=host.check_interrupted)
        bar.update(1)
        preview = control_preview(plan)
        bar.update(1)
        return io.NodeOutput(plan, convert.numpy_to_image(preview))


NODES = [LeviTorRenderMovedMasks, LeviTorKMeansControlPoints]
