"""The 3D plan as point tracks for ComfyUI's Wan video nodes.

* ``LeviTorWanMoveTracks``: core ``TRACKS`` for ``WanMoveTrackToVideo`` and
  ``WanMoveVisualizeTracks``: ``track_path`` float32 ``[T, N, 2]`` in the video's pixels and
  ``track_visibility`` bool ``[T, N]`` from the plan's occlusion. Registered only on a ComfyUI
  whose node API has the ``Tracks`` type (the releases with the Wan-Move nodes); elsewhere one log
  line says why.
* ``LeviTorATITracks``: the JSON text core ``WanTrackToVideo`` (ATI) reads: per point a list of
  121 samples spread over the whole video, each with ``x`` and ``y``. ATI has no visibility.

Both give a preview: the tracks drawn over the start image at the video's size, hidden stretches
in grey.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from levitor import limits
from levitor.planning.point_tracks import (
    DEFAULT_NUM_FRAMES,
    DEFAULT_POINTS_PER_OBJECT,
    DEFAULT_STATIC_POINTS,
    PointTracks,
    fit_to_output,
    point_tracks,
)
from levitor.planning.preview import draw_point_tracks

from . import convert, host
from .api import Tracks as PlanTracks
from .api import check_choices, io
from .planning_nodes import CAMERA_MODES
from .sockets import CATEGORY, TrackSet

log = logging.getLogger(__name__)

ATI_SAMPLES = 121  # WanTrackToVideo pads or cuts every track to 121 samples spread over the whole video
DEFAULT_WIDTH, DEFAULT_HEIGHT = 832, 480  # Wan 2.1 480p
PREVIEW_TRAIL = 24


def plan_point_tracks(track_set: Any, num_frames: int, width: int, height: int, camera_move: str,
                      points_per_object: int, static_points: int, static_masks: list | None = None, *,
                      device: Any = None) -> PointTracks:
    """The editor's scene and tracks as point tracks of ``num_frames`` frames at ``width`` x ``height``."""
    if not isinstance(track_set, TrackSet):
        raise ValueError("tracks must come from LeviTorTrajectory3DEditor (a LEVITOR_TRACKS output)")
    if camera_move not in CAMERA_MODES:
        raise ValueError(f"camera_move must be one of {', '.join(CAMERA_MODES)}, got {camera_move!r}")
    n = len(track_set.object_masks)
    moving = camera_move != "off"
    if moving and not track_set.has_camera_track:
        raise ValueError(f"camera_move needs a camera track: draw {n + 1} tracks for {n} objects, "
                         "the last one moving the background")
    statics = track_set.static_masks if static_masks is None else static_masks
    result = point_tracks(track_set.image, track_set.depth, track_set.object_masks, statics,
                          track_set.tracks[:n], int(num_frames), camera_track=track_set.tracks[n] if moving else None,
                          points_per_object=int(points_per_object), static_points=int(static_points),
                          output_size=(int(width), int(height)), device=device)
    if track_set.has_camera_track and not moving:
        result.warnings.insert(0, "the last track is a camera track: enable camera_move to use it (it is ignored)")
    return result


def seen_at_start(result: PointTracks) -> np.ndarray:
    """The points visible in frame 0: the Wan nodes copy a point's first-frame feature along its
    path, so a point hidden there would carry the wrong one (core takes the bottom-right corner)."""
    return result.visibility[0].copy()


def core_tracks(result: PointTracks) -> dict:
    """ComfyUI's ``TRACKS``: ``track_path`` float32 ``[T, N, 2]``, ``track_visibility`` bool ``[T, N]``
    (always one column per point), the points hidden in frame 0 left out."""
    import torch

    keep = seen_at_start(result)
    return {"track_path": torch.from_numpy(np.ascontiguousarray(result.paths[:, keep])),
            "track_visibility": torch.from_numpy(np.ascontiguousarray(result.visibility[:, keep]))}


def ati_tracks_text(result: PointTracks) -> str:
    """The JSON text of ``WanTrackToVideo``: a list of tracks, each ``result.num_frames`` samples
    of ``x`` and ``y`` (pixels, two decimals), the points hidden in frame 0 left out."""
    keep = seen_at_start(result)
    paths = np.round(result.paths[:, keep].astype(np.float64), 2)
    return json.dumps([[{"x": float(x), "y": float(y)} for x, y in paths[:, n]] for n in range(paths.shape[1])],
                      separators=(",", ":"))


def preview_frames(track_set: TrackSet, result: PointTracks) -> Any:
    background = fit_to_output(track_set.image, result.size)
    frames = draw_point_tracks(background, result.paths, result.visibility, result.objects, trail=PREVIEW_TRAIL)
    return convert.numpy_to_image(frames)


def _common_inputs() -> list:
    side = dict(limits.IMAGE_SIDE.widget(), step=16)
    return [
        io.Int.Input("width", default=DEFAULT_WIDTH, **side,
                     tooltip="Width of the video in pixels, as given to the Wan node; the tracks are in its "
                             "pixels (the start image is centre-cropped to its shape and scaled, as core does)."),
        io.Int.Input("height", default=DEFAULT_HEIGHT, **side, tooltip="Height of the video in pixels."),
        io.Combo.Input("camera_move", options=list(CAMERA_MODES), default=CAMERA_MODES[0],
                       tooltip="Move the background as one more object along the last (camera) track; the "
                               "static anchors then move with it."),
        io.Int.Input("points_per_object", default=DEFAULT_POINTS_PER_OBJECT, **limits.POINTS_PER_OBJECT.widget(),
                     tooltip="Point tracks spread over each moved object's pixels."),
        io.Int.Input("static_points", default=DEFAULT_STATIC_POINTS, **limits.STATIC_POINTS.widget(),
                     tooltip="Point tracks on the background that pin the scene (0 = none); with a camera move "
                             "they follow the camera track."),
        io.Mask.Input("static_segments", optional=True,
                      tooltip="Static segments (LeviTorSceneSegments or any MASK batch); replaces the editor's "
                              "ones. They occlude objects passing behind them."),
    ]


def _statics(track_set: Any, static_segments: Any) -> list | None:
    if static_segments is None or not isinstance(track_set, TrackSet):
        return None
    return convert.masks_to_list(static_segments, name="static_segments", size=(track_set.height, track_set.width))


def _report(node: str, result: PointTracks) -> None:
    for note in result.warnings:
        log.warning("%s: %s", node, note)
    hidden = int((~seen_at_start(result)).sum())
    if hidden:
        log.warning("%s: %d point tracks are hidden in the first frame and left out", node, hidden)


class LeviTorWanMoveTracks(io.ComfyNode):
    """Node: the 3D plan as core TRACKS, with visibility from the plan's occlusion."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LeviTorWanMoveTracks",
            display_name="LeviTor Wan-Move Tracks",
            category=CATEGORY,
            description=(
                "Point tracks of the 3D plan for WanMoveTrackToVideo: points spread over each object (and optional "
                "anchors on the background) are lifted with the depth map, moved along the 3D tracks and projected "
                "with perspective, exactly as LeviTor renders its masks. A point is visible in a frame when the "
                "plan shows its object at its pixel, so points hidden behind nearer surfaces, behind the camera or "
                "out of the frame are marked invisible. Positions are in the video's pixels."
            ),
            inputs=[
                PlanTracks.Input("tracks", tooltip="Scene and tracks from LeviTorTrajectory3DEditor."),
                io.Int.Input("length", default=DEFAULT_NUM_FRAMES, step=4, **limits.NUM_FRAMES.widget(),
                             tooltip="Frames of the video, as given to WanMoveTrackToVideo (Wan takes 4k+1 "
                                     "frames, 81 by default)."),
                *_common_inputs(),
            ],
            outputs=[
                io.Tracks.Output("wan_tracks", display_name="tracks",
                                 tooltip="Core TRACKS: per point its path and visibility in every frame."),
                io.Image.Output("preview", display_name="preview",
                                tooltip="The tracks over the start image at the video size; hidden stretches in "
                                        "grey."),
            ],
        )

    @classmethod
    def validate_inputs(cls, camera_move):
        return check_choices(camera_move=(camera_move, CAMERA_MODES))

    @classmethod
    def execute(cls, tracks, length, width, height, camera_move, points_per_object, static_points,
                static_segments=None) -> io.NodeOutput:
        bar = host.progress_bar(2)
        host.check_interrupted()
        result = plan_point_tracks(tracks, length, width, height, camera_move, points_per_object, static_points,
                                   _statics(tracks, static_segments), device=host.torch_device())
        _report("LeviTorWanMoveTracks", result)
        bar.update(1)
        host.check_interrupted()
        preview = preview_frames(tracks, result)
        bar.update(1)
        return io.NodeOutput(core_tracks(result), preview)


class LeviTorATITracks(io.ComfyNode):
    """Node: the 3D plan as the tracks text of core WanTrackToVideo (ATI)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LeviTorATITracks",
            display_name="LeviTor ATI Tracks",
            category=CATEGORY,
            description=(
                "Point tracks of the 3D plan as the tracks text of WanTrackToVideo (ATI): per point 121 samples of "
                "x and y in the video's pixels, spread over the whole video. Points are moved with depth and "
                "perspective as LeviTor renders its masks, but ATI has no visibility: a point hidden behind a "
                "nearer surface keeps pulling its object's look along its path, so occlusion is lost (use "
                "LeviTorWanMoveTracks with Wan-Move to keep it). Points hidden in the first frame are left out."
            ),
            inputs=[
                PlanTracks.Input("tracks", tooltip="Scene and tracks from LeviTorTrajectory3DEditor."),
                *_common_inputs(),
            ],
            outputs=[
                io.String.Output("ati_tracks", display_name="tracks",
                                 tooltip="Tracks text for the tracks input of WanTrackToVideo."),
                io.Image.Output("preview", display_name="preview",
                                tooltip="The tracks over the start image at the video size, 121 frames; stretches "
                                        "hidden in the plan in grey (ATI still follows them)."),
            ],
        )

    @classmethod
    def validate_inputs(cls, camera_move):
        return check_choices(camera_move=(camera_move, CAMERA_MODES))

    @classmethod
    def execute(cls, tracks, width, height, camera_move, points_per_object, static_points,
                static_segments=None) -> io.NodeOutput:
        bar = host.progress_bar(2)
        host.check_interrupted()
        result = plan_point_tracks(tracks, ATI_SAMPLES, width, height, camera_move, points_per_object, static_points,
                                   _statics(tracks, static_segments), device=host.torch_device())
        _report("LeviTorATITracks", result)
        bar.update(1)
        host.check_interrupted()
        preview = preview_frames(tracks, result)
        bar.update(1)
        return io.NodeOutput(ati_tracks_text(result), preview)


def available_nodes(api: Any) -> tuple[list, str | None]:
    """The nodes this module registers with the node API ``api`` and, when one is left out, why."""
    if getattr(api, "Tracks", None) is None:
        return [LeviTorATITracks], ("LeviTorWanMoveTracks is not available: this ComfyUI has no TRACKS type "
                                    "(update ComfyUI to a release with the Wan-Move nodes); LeviTorATITracks works")
    return [LeviTorATITracks, LeviTorWanMoveTracks], None


NODES, UNAVAILABLE = available_nodes(io)
if UNAVAILABLE:  # an older ComfyUI: not a fault of the pack, but say why the node is missing
    log.info("levitor: %s", UNAVAILABLE)
