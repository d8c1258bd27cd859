"""LeviTor for ComfyUI: the pack entry point ComfyUI imports.

ComfyUI finds ``comfy_entrypoint`` (the V3 node API) and ``WEB_DIRECTORY`` here. On a ComfyUI
without that API the pack logs one line and defines empty ``NODE_CLASS_MAPPINGS`` instead.

ComfyUI imports this folder as a package under a name we do not choose, while the command line,
training and tests import the core library as ``levitor``. :func:`ensure_levitor` makes both see
one copy: the ``levitor`` package next to this file, registered under the top-level name
``levitor`` (unless a ``levitor`` module is already imported, which is then kept and used).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys

_PACK_DIR = os.path.dirname(os.path.abspath(__file__))
_log = logging.getLogger("levitor")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def ensure_levitor():
    """Import the pack's own ``levitor`` library as the top-level module ``levitor`` and return it.

    A ``levitor`` already in ``sys.modules`` is returned as it is (a second copy would split
    its classes in two); a warning names both places when it is not the pack's copy.
    """
    own_init = os.path.join(_PACK_DIR, "levitor", "__init__.py")
    existing = sys.modules.get("levitor")
    if existing is not None:
        path = getattr(existing, "__file__", None) or ""
        if not _same_file(path, own_init):
            _log.warning("levitor: using the already imported library at %s instead of %s", path, own_init)
        return existing
    spec = importlib.util.spec_from_file_location(
        "levitor", own_init, submodule_search_locations=[os.path.dirname(own_init)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the levitor library from {own_init}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["levitor"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop("levitor", None)
        raise
    return module


ensure_levitor()

if __package__:  # imported as a package, as ComfyUI does
    from . import nodes as _nodes

    _missing = _nodes.missing_api()
    if _missing is None:
        _nodes.node_classes()  # import every node module now, so a broken one fails the pack's import
        comfy_entrypoint = _nodes.comfy_entrypoint
        __all__ = ["comfy_entrypoint", "WEB_DIRECTORY"]

        try:  # the editor's live preview route needs the running server; the nodes work without it
            from .nodes import preview_route

            if not preview_route.register_routes():
                _log.info("levitor: no running ComfyUI server, live preview route not registered")
        except Exception as exc:  # an older server API, or the route module missing
            _log.warning("levitor: live preview route not registered (%s)", exc)
    else:  # a host older than the V3 node API: say so once, load nothing
        _log.warning("levitor: %s", _missing)
        NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}
        __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
else:  # imported as a plain module (a test runner collecting this folder): nothing to register
    __all__ = ["WEB_DIRECTORY"]

WEB_DIRECTORY = "./web"
