"""ComfyUI nodes of the LeviTor pack: thin V3 adapters over the ``levitor`` library.

Convention: every node module defines ``NODES``, the list of its node classes (``io.ComfyNode``
subclasses), and is named once in :data:`NODE_MODULES`; :func:`node_classes` collects them in that
order and :func:`comfy_entrypoint` hands them to ComfyUI. Adding a module of nodes is one more
name in that tuple.

Importing this package needs no ComfyUI (the preview route and the tests use it without one); the
node modules import the host's V3 API (:mod:`.api`) when :func:`node_classes` first runs.
"""

from __future__ import annotations

import importlib

NODE_MODULES = ("model_nodes", "segmentation_nodes", "depth_node", "trajectory_editor", "planning_nodes", "warp_node",
                "native", "wan_nodes")


def missing_api() -> str | None:
    """Why this host cannot load the nodes (it has no ``comfy_api`` V3 module we use), or None."""
    try:
        importlib.import_module(f"{__name__}.api")
    except ImportError as exc:
        if not (exc.name or "").startswith("comfy_api"):
            raise
        return (f"this ComfyUI has no V3 node API ({exc}); LeviTor needs ComfyUI 0.3.64 or newer, "
                "update ComfyUI to load its nodes")
    return None


def node_classes() -> list:
    """Every node class of the pack, module by module in :data:`NODE_MODULES` order."""
    classes = []
    for name in NODE_MODULES:
        classes.extend(importlib.import_module(f"{__name__}.{name}").NODES)
    return classes


def comfy_entrypoint():
    """The ``ComfyExtension`` ComfyUI asks a V3 pack for."""
    from .api import ComfyExtension

    classes = node_classes()

    class LeviTorExtension(ComfyExtension):
        async def get_node_list(self) -> list:
            return list(classes)

    return LeviTorExtension()


__all__ = ["NODE_MODULES", "missing_api", "node_classes", "comfy_entrypoint"]
