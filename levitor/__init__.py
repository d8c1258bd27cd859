"""LeviTor: 3D trajectory control of objects in image-to-video generation.

The public API, one import path per name::

    import levitor
    plan = levitor.build_plan(image, depth, object_masks, static_masks, tracks)

Names are loaded on first use, so ``import levitor`` is light: planning names bring torch,
NumPy and scikit-learn; generation names bring diffusers and transformers; perception names
bring transformers or segment-anything. The library never imports ComfyUI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it, in the order of the flow.
_PUBLIC = {
    # image: files in and out
    "load_image": "levitor.io.media",
    "load_mask": "levitor.io.media",
    "load_masks": "levitor.io.media",
    "load_depth": "levitor.io.media",
    "write_video": "levitor.io.media",
    "read_video": "levitor.io.media",
    # image -> depth and object masks
    "DepthEstimator": "levitor.perception.depth",
    "SamSegmenter": "levitor.perception.segmentation",
    # scene
    "Scene": "levitor.planning.scene",
    "disparity_to_depth": "levitor.planning.scene",
    # tracks
    "Track": "levitor.planning.tracks",
    "parse_tracks": "levitor.planning.tracks",
    "parse_coord_str": "levitor.planning.tracks",
    "tracks_to_json": "levitor.planning.tracks",
    "resample_track": "levitor.planning.tracks",
    "resample_tracks": "levitor.planning.tracks",
    # the stages and the whole plan
    "PlanOptions": "levitor.planning.options",
    "build_scene": "levitor.planning.stages",
    "lift_scene": "levitor.planning.stages",
    "render_stage": "levitor.planning.stages",
    "control_stage": "levitor.planning.stages",
    "RenderResult": "levitor.planning.stages",
    "ControlResult": "levitor.planning.stages",
    "build_plan": "levitor.planning.plan",
    "plan_from_render": "levitor.planning.plan",
    "PlanResult": "levitor.planning.plan",
    "render_preview": "levitor.planning.preview",
    # point tracks for trajectory-conditioned video models (Wan-Move, ATI)
    "point_tracks": "levitor.planning.point_tracks",
    "PointTracks": "levitor.planning.point_tracks",
    # warped video
    "warped_video": "levitor.planning.warp",
    "WarpedVideo": "levitor.planning.warp",
    # video
    "LeviTorPipeline": "levitor.generation.pipeline",
    "LeviTorPipelineOutput": "levitor.generation.pipeline",
    "ControlNetSVDModel": "levitor.generation.models.controlnet_svd",
    "UNetSpatioTemporalControlModel": "levitor.generation.models.unet_svd",
    "load_controlnet": "levitor.generation.loading",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'levitor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .generation.loading import load_controlnet
    from .generation.models.controlnet_svd import ControlNetSVDModel
    from .generation.models.unet_svd import UNetSpatioTemporalControlModel
    from .generation.pipeline import LeviTorPipeline, LeviTorPipelineOutput
    from .io.media import load_depth, load_image, load_mask, load_masks, read_video, write_video
    from .perception.depth import DepthEstimator
    from .perception.segmentation import SamSegmenter
    from .planning.options import PlanOptions
    from .planning.plan import PlanResult, build_plan, plan_from_render
    from .planning.point_tracks import PointTracks, point_tracks
    from .planning.preview import render_preview
    from .planning.scene import Scene, disparity_to_depth
    from .planning.stages import ControlResult, RenderResult, build_scene, control_stage, lift_scene, render_stage
    from .planning.tracks import Track, parse_coord_str, parse_tracks, resample_track, resample_tracks, tracks_to_json
    from .planning.warp import WarpedVideo, warped_video
