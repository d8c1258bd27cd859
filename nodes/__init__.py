"""ComfyUI nodes of the LeviTor pack: thin adapters over the ``levitor`` library."""

from __future__ import annotations

import importlib.util

from . import depth_node, model_nodes, planning_nodes, segmentation_nodes, trajectory_editor

_MODULES = (model_nodes, segmentation_nodes, depth_node, trajectory_editor, planning_nodes)
if importlib.util.find_spec("comfy_api") is not None:  # the native nodes are V3 nodes of a real host
    from . import native

    _MODULES += (native,)

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
for _module in _MODULES:
    NODE_CLASS_MAPPINGS.update(_module.NODE_CLASS_MAPPINGS)
    NODE_DISPLAY_NAME_MAPPINGS.update(_module.NODE_DISPLAY_NAME_MAPPINGS)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
