"""The ComfyUI node API the pack is written against, and the pack's socket types in it.

Every node is a V3 node (``io.ComfyNode`` with ``define_schema`` and ``execute``) from the
versioned module ``comfy_api.v0_0_2``: it is in ComfyUI 0.3.64 and in later releases (which add
newer versions beside it), while ``comfy_api.latest`` changes under its users. Importing this
module on a ComfyUI without it raises ``ImportError``; the pack's ``__init__`` turns that into
one log line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from comfy_api.v0_0_2 import ComfyExtension, io

from .sockets import CONTROL, MASKS, MODEL, TRACKS

__all__ = ["ComfyExtension", "io", "Tracks", "Masks", "Control", "Model", "node_id", "check_choices",
           "keyword_defaults"]

Tracks = io.Custom(TRACKS)
Masks = io.Custom(MASKS)
Control = io.Custom(CONTROL)
Model = io.Custom(MODEL)


def node_id(cls: Any, fallback: str) -> str:
    """The id of the running node (ComfyUI's hidden ``unique_id``), or ``fallback`` outside a graph."""
    value = getattr(getattr(cls, "hidden", None), "unique_id", None)
    return str(value) if value is not None else fallback


def check_choices(**inputs: tuple[Any, Sequence[str]]) -> bool | str:
    """``True`` when every ``name=(value, choices)`` has its value among its choices (or unset),
    else the message naming the first input that has not."""
    for name, (value, choices) in inputs.items():
        if value is not None and value not in choices:
            return f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}"
    return True


def keyword_defaults(func: Callable) -> dict:
    """The keyword defaults of ``func``: node defaults read from the library, not retyped."""
    return {name: p.default for name, p in inspect.signature(func).parameters.items()
            if p.default is not inspect.Parameter.empty}
