"""The last scene each editor node saw, so the browser's live preview can re-plan it.

Nodes store the scene (image, depth and masks, as ``levitor.planning.scene.Scene``) under their node id
when they run; the preview route reads it back. Bounded, thread-safe, in memory only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

_MAX_SCENES = 16
_lock = threading.Lock()
_scenes: "OrderedDict[str, Any]" = OrderedDict()


def remember_scene(node_id: str, scene: Any) -> None:
    """Keep ``scene`` for ``node_id``; the oldest entries go beyond a small bound."""
    with _lock:
        _scenes[str(node_id)] = scene
        _scenes.move_to_end(str(node_id))
        while len(_scenes) > _MAX_SCENES:
            _scenes.popitem(last=False)


def get_scene(node_id: str) -> Any | None:
    """The scene last stored for ``node_id``, or None."""
    with _lock:
        return _scenes.get(str(node_id))


def forget_all() -> None:
    with _lock:
        _scenes.clear()
