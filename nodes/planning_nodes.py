"""LeviTorRenderMovedMasks and LeviTorKMeansControlPoints: from tracks to control maps."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from levitor import limits
from levitor.planning.options import SPLAT_UNITS, PlanOptions
from levitor.planning.plan import plan_from_render
from levitor.planning.preview import render_label_preview
from levitor.planning.stages import build_scene, render_stage

from . import convert, host
from .api import Control, Masks, Tracks, check_choices, io
from .sockets import CATEGORY, MovedMaskSet, TrackSet

log = logging.getLogger(__name__)

DEFAULTS = PlanOptions()
CAMERA_MODES = ("off", "last track moves the background")


def render_track_set(track_set: TrackSet, options: PlanOptions, camera_move: str,
                     static_masks: list[np.ndarray] | None, *, device=None) -> MovedMaskSet:
    """The scene and render stages for the editor's output.

    With ``camera_move`` on, the background (everything outside the object masks) becomes one
    more moved object that follows the camera track (the last track).
    """
    if camera_move not in CAMERA_MODES:
        raise ValueError(f"camera_move must be one of {', '.join(CAMERA_MODES)}, got {camera_move!r}")
    n = len(track_set.object_masks)
    moving = camera_move != "off"
    if moving and not track_set.has_camera_track:
        raise ValueError(f"camera_move needs a camera track: draw {n + 1} tracks for {n} objects, "
                         "the last one moving the background")
    statics = track_set.static_masks if static_masks is None else static_masks
    scene = build_scene(track_set.image, track_set.depth, track_set.object_masks, statics, options,
                        camera_move=moving)
    camera = track_set.tracks[n] if moving else None
    moved = render_stage(scene, track_set.tracks[:n], options, camera_track=camera, device=device)
    if track_set.has_camera_track and not moving:
        moved.warnings.insert(0, "the last track is a camera track: enable camera_move to use it (it is ignored)")
    return moved


def control_preview(plan) -> np.ndarray:
    """Label maps with the control points, and the heatmap channel laid over them in red."""
    frames = render_label_preview(plan.scene.image, plan.labels, plan.keypoints, plan.trajectories)
    heat = np.clip(plan.control[:, 0] / 255.0, 0.0, 1.0)[..., None] * 0.6
    red = np.array([255.0, 40.0, 0.0], dtype=np.float32)
    out = frames.astype(np.float32) * (1.0 - heat) + red * heat
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


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
                io.Int.Input("num_frames", default=DEFAULTS.num_frames, step=1, **limits.NUM_FRAMES.widget(),
                             tooltip="Frames to render; SVD-xt LeviTor was trained on 16."),
                io.Combo.Input("camera_move", options=list(CAMERA_MODES), default=CAMERA_MODES[0],
                               tooltip="Move the background as one more object along the last (camera) track, for "
                                       "a camera motion."),
                io.Mask.Input("static_segments", optional=True,
                              tooltip="Static segments (LeviTorSceneSegments or any MASK batch, in generator "
                                      "order); replaces the editor's ones."),
                io.Float.Input("min_area_frac", default=DEFAULTS.min_area_frac, step=0.0005, optional=True,
                               **limits.MIN_AREA_FRAC.widget(),
                               tooltip="Segments not larger than this fraction of the image are dropped "
                                       f"(reference {DEFAULTS.min_area_frac:g})."),
                io.Int.Input("points_per_pixel", default=DEFAULTS.points_per_pixel, optional=True,
                             **limits.POINTS_PER_PIXEL.widget(),
                             tooltip="Splatting depth: nearest points kept per pixel "
                                     f"(reference {DEFAULTS.points_per_pixel})."),
                io.Float.Input("base_radius", default=DEFAULTS.base_radius, step=0.001, optional=True,
                               **limits.BASE_RADIUS.widget(),
                               tooltip="Splat radius in normalised device units "
                                       f"(reference {DEFAULTS.base_radius:g}); it grows as objects come nearer."),
                io.Combo.Input("splat_units", options=list(SPLAT_UNITS), default=DEFAULTS.splat_units, optional=True,
                               tooltip="pixels: one unit is 144 px at every image size (the reference's own scale "
                                       "at 288 px wide); ndc: half the shorter image side, as the reference's code "
                                       "(splats vanish on small images)."),
                io.Boolean.Input("reference_uint8_wrap", default=DEFAULTS.reference_uint8_wrap, optional=True,
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
    def execute(cls, tracks, num_frames, camera_move, static_segments=None, min_area_frac=DEFAULTS.min_area_frac,
                points_per_pixel=DEFAULTS.points_per_pixel, base_radius=DEFAULTS.base_radius,
                reference_uint8_wrap=DEFAULTS.reference_uint8_wrap, splat_units=DEFAULTS.splat_units) -> io.NodeOutput:
        if not isinstance(tracks, TrackSet):
            raise ValueError("tracks must come from LeviTorTrajectory3DEditor (a LEVITOR_TRACKS output)")
        statics = None
        if static_segments is not None:
            statics = convert.masks_to_list(static_segments, name="static_segments",
                                            size=(tracks.height, tracks.width))
        bar = host.progress_bar(2)
        host.check_interrupted()
        options = PlanOptions(num_frames=int(num_frames), min_area_frac=float(min_area_frac),
                              base_radius=float(base_radius), points_per_pixel=int(points_per_pixel),
                              reference_uint8_wrap=bool(reference_uint8_wrap), splat_units=str(splat_units))
        moved = render_track_set(tracks, options, camera_move, statics, device=host.torch_device())
        bar.update(1)
        for note in moved.warnings:
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
                io.Float.Input("ratio", default=DEFAULTS.ratio, step=0.05, **limits.RATIO.widget(),
                               tooltip="Scales the points per region: small = few points (non-rigid motion), "
                                       "large = many (rigid)."),
                io.Boolean.Input("use_id", default=DEFAULTS.use_id,
                                 tooltip="Write instance ids into channel 1 (the model was trained with them)."),
                io.Boolean.Input("use_depth", default=DEFAULTS.use_depth,
                                 tooltip="Write depth codes into channel 2 (the model was trained with them)."),
                io.Int.Input("radius", default=DEFAULTS.radius, optional=True, **limits.RADIUS.widget(),
                             tooltip="Half size in pixels of each point's heatmap patch "
                                     f"(reference {DEFAULTS.radius})."),
                io.Boolean.Input("safe_k", default=DEFAULTS.safe_k, optional=True,
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
    def execute(cls, moved_masks, ratio, use_id, use_depth, radius=DEFAULTS.radius,
                safe_k=DEFAULTS.safe_k) -> io.NodeOutput:
        if not isinstance(moved_masks, MovedMaskSet):
            raise ValueError("moved_masks must come from LeviTorRenderMovedMasks (a LEVITOR_MASKS output)")
        bar = host.progress_bar(2)
        host.check_interrupted()
        options = replace(moved_masks.options, ratio=float(ratio), use_id=bool(use_id), use_depth=bool(use_depth),
                          radius=int(radius), safe_k=bool(safe_k))
        plan = plan_from_render(moved_masks, options, check=host.check_interrupted)
        bar.update(1)
        preview = control_preview(plan)
        bar.update(1)
        return io.NodeOutput(plan, convert.numpy_to_image(preview))


NODES = [LeviTorRenderMovedMasks, LeviTorKMeansControlPoints]
