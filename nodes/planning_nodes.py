"""LeviTorRenderMovedMasks and LeviTorKMeansControlPoints: from tracks to control maps."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from levitor.planning.options import SPLAT_UNITS, PlanOptions
from levitor.planning.plan import plan_from_render
from levitor.planning.stages import build_scene, render_stage
from levitor.preview import render_label_preview

from . import convert, host
from .sockets import CATEGORY, CONTROL, MASKS, TRACKS, MovedMaskSet, TrackSet

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
    if options.num_frames < 2:
        raise ValueError(f"num_frames must be at least 2, got {options.num_frames}")
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


class LeviTorRenderMovedMasks:
    """Node: move the objects along their 3D tracks and render per-frame masks with occlusion."""

    DESCRIPTION = (
        "Lifts every object's pixels to 3D with the depth map, moves them along the tracks (PCHIP-resampled to "
        "the frame count) and renders per-frame label and depth maps with occlusion and perspective scaling. "
        "Static segments keep the rest of the scene in place. The camera move option treats the background as "
        "one more moved object that follows the last (camera) track."
    )
    CATEGORY = CATEGORY
    FUNCTION = "render"
    RETURN_TYPES = (MASKS, "IMAGE")
    RETURN_NAMES = ("moved_masks", "preview")
    OUTPUT_TOOLTIPS = (
        "Per-frame label and depth maps for LeviTorKMeansControlPoints.",
        "The coloured label map of every frame over the start image, with the track paths.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "tracks": (TRACKS, {"tooltip": "Scene and tracks from LeviTorTrajectory3DEditor."}),
                "num_frames": ("INT", {"default": DEFAULTS.num_frames, "min": 2, "max": 128, "step": 1,
                                       "tooltip": "Frames to render; SVD-xt LeviTor was trained on 16."}),
                "camera_move": (list(CAMERA_MODES), {"default": "off",
                                                     "tooltip": "Move the background as one more object along the "
                                                                "last (camera) track, for a camera motion."}),
            },
            "optional": {
                "static_segments": ("MASK", {"tooltip": "Static segments (LeviTorSceneSegments or any MASK batch, "
                                                        "in generator order); replaces the editor's ones."}),
                "min_area_frac": ("FLOAT", {"default": DEFAULTS.min_area_frac, "min": 0.0, "max": 0.5, "step": 0.0005,
                                            "tooltip": "Segments not larger than this fraction of the image are "
                                                       f"dropped (reference {DEFAULTS.min_area_frac:g})."}),
                "points_per_pixel": ("INT", {"default": DEFAULTS.points_per_pixel, "min": 1, "max": 64,
                                             "tooltip": "Splatting depth: nearest points kept per pixel "
                                                        f"(reference {DEFAULTS.points_per_pixel})."}),
                "base_radius": ("FLOAT", {"default": DEFAULTS.base_radius, "min": 0.001, "max": 0.2, "step": 0.001,
                                          "tooltip": "Splat radius in normalised device units (reference "
                                                     f"{DEFAULTS.base_radius:g}); it grows as objects come nearer."}),
                "splat_units": (list(SPLAT_UNITS), {"default": DEFAULTS.splat_units,
                                                    "tooltip": "pixels: one unit is 144 px at every image size (the "
                                                               "reference's own scale at 288 px wide); ndc: half the "
                                                               "shorter image side, as the reference's code (splats "
                                                               "vanish on small images)."}),
                "reference_uint8_wrap": ("BOOLEAN", {"default": DEFAULTS.reference_uint8_wrap,
                                                     "tooltip": "Reproduce the reference's 8-bit wrap-around of "
                                                                "labels and depth codes above 255."}),
            },
        }

    def render(self, tracks, num_frames, camera_move, static_segments=None, min_area_frac=DEFAULTS.min_area_frac,
               points_per_pixel=DEFAULTS.points_per_pixel, base_radius=DEFAULTS.base_radius,
               reference_uint8_wrap=DEFAULTS.reference_uint8_wrap, splat_units=DEFAULTS.splat_units):
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
        return (moved, convert.numpy_to_image(preview))


class LeviTorKMeansControlPoints:
    """Node: K-means control points per frame and the 3-channel control maps."""

    DESCRIPTION = (
        "Picks K-means points in every labelled region of every frame (adaptive k, more for large regions and "
        "moved objects) and draws the control maps the ControlNet reads: a Gaussian heatmap, the instance id and "
        "the depth code per point. ratio scales the number of points: small = non-rigid motion, large = rigid."
    )
    CATEGORY = CATEGORY
    FUNCTION = "select"
    RETURN_TYPES = (CONTROL, "IMAGE")
    RETURN_NAMES = ("control", "preview")
    OUTPUT_TOOLTIPS = (
        "Control maps (F, 3, H, W) with the plan they came from, for LeviTorSampler.",
        "Label maps with the control points and their heatmap (red) per frame.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "moved_masks": (MASKS, {"tooltip": "Per-frame masks from LeviTorRenderMovedMasks."}),
                "ratio": ("FLOAT", {"default": DEFAULTS.ratio, "min": 0.01, "max": 10.0, "step": 0.05,
                                    "tooltip": "Scales the points per region: small = few points (non-rigid "
                                               "motion), large = many (rigid)."}),
                "use_id": ("BOOLEAN", {"default": DEFAULTS.use_id,
                                       "tooltip": "Write instance ids into channel 1 (the model was trained with "
                                                  "them)."}),
                "use_depth": ("BOOLEAN", {"default": DEFAULTS.use_depth,
                                          "tooltip": "Write depth codes into channel 2 (the model was trained with "
                                                     "them)."}),
            },
            "optional": {
                "radius": ("INT", {"default": DEFAULTS.radius, "min": 1, "max": 64,
                                   "tooltip": "Half size in pixels of each point's heatmap patch (reference "
                                              f"{DEFAULTS.radius})."}),
                "safe_k": ("BOOLEAN", {"default": DEFAULTS.safe_k,
                                       "tooltip": "Cap k at the pixels a region has (the reference raises "
                                                  "there instead)."}),
            },
        }

    def select(self, moved_masks, ratio, use_id, use_depth, radius=DEFAULTS.radius, safe_k=DEFAULTS.safe_k):
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
        return (plan, convert.numpy_to_image(preview))


NODE_CLASS_MAPPINGS = {
    "LeviTorRenderMovedMasks": LeviTorRenderMovedMasks,
    "LeviTorKMeansControlPoints": LeviTorKMeansControlPoints,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "LeviTorRenderMovedMasks": "LeviTor Render Moved Masks",
    "LeviTorKMeansControlPoints": "LeviTor K-Means Control Points",
}
