"""LeviTorWarpedVideo: the start image's objects moved along their tracks, as frames and a mask."""

from __future__ import annotations

import logging

import numpy as np

from levitor.planning.stages import RenderResult
from levitor.planning.warp import warp_render

from . import convert, host
from .api import Masks, io
from .sockets import CATEGORY

log = logging.getLogger(__name__)


def warp_moved_masks(moved_masks: RenderResult, *, device=None, check=None) -> tuple[np.ndarray, np.ndarray]:
    """The warped frames ``(F, H, W, 3)`` uint8 and their mask ``(F, H, W)`` float32 (1 where a
    frame differs from the start image) of a render stage result."""
    if not isinstance(moved_masks, RenderResult):
        raise ValueError("moved_masks must come from LeviTorRenderMovedMasks (a LEVITOR_MASKS output)")
    warped = warp_render(moved_masks, device=device, check=check)
    return warped.frames, warped.mask.astype(np.float32)


class LeviTorWarpedVideo(io.ComfyNode):
    """Node: the moved objects' pixels in every frame (a 3D cut-and-drag video) and where it changed."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LeviTorWarpedVideo",
            display_name="LeviTor Warped Video",
            category=CATEGORY,
            description=(
                "Moves the start image's pixels with the objects they belong to, frame by frame, as the render "
                "placed them: nearer objects are drawn larger, objects that pass behind nearer ones are hidden, and "
                "the places objects leave are filled from the background around them. A rough preview of the "
                "motion, and a control video with its mask for video-to-video models such as Wan VACE "
                "(control_video and control_masks of WanVaceToVideo)."
            ),
            inputs=[
                Masks.Input("moved_masks", tooltip="Per-frame masks from LeviTorRenderMovedMasks: the frames, tracks "
                                                   "and occlusion the warped video follows."),
            ],
            outputs=[
                io.Image.Output("frames", display_name="frames",
                                tooltip="The warped frames, one per planned frame; the first is the start image."),
                io.Mask.Output("mask", display_name="mask",
                               tooltip="1 where a frame differs from the start image (moved objects and the places "
                                       "they left), 0 elsewhere; the control_masks of WanVaceToVideo."),
            ],
        )

    @classmethod
    def execute(cls, moved_masks) -> io.NodeOutput:
        import torch

        if not isinstance(moved_masks, RenderResult):
            raise ValueError("moved_masks must come from LeviTorRenderMovedMasks (a LEVITOR_MASKS output)")
        bar = host.progress_bar(moved_masks.num_frames)
        host.check_interrupted()

        def step() -> None:
            bar.update(1)
            host.check_interrupted()

        frames, mask = warp_moved_masks(moved_masks, device=host.torch_device(), check=step)
        return io.NodeOutput(convert.numpy_to_image(frames), torch.from_numpy(mask))


NODES = [LeviTorWarpedVideo]
