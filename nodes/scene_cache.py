"""The last scene each editor node saw, so the browser's live preview can re-plan it.

Nodes store the scene (image, depth and masks, as ``levitor.planning.scene.Scene``) under their node id
when they run; the preview route reads it back. Bounded, thread-safe, in memory only.
"""

from __future__ import annotations

from typing import Any

from .model_cache import KeyedCache

_MAX_SCENES = 16
_scenes = KeyedCache(_MAX_SCENES)


def remember_scene(node_id: str, scene: Any) -> None:
    """Keep ``scene`` for ``node_id``; the oldest entries go beyond a small bound."""
    _scenes.put(str(node_id), scene)


def get_scene(node_id: str) -> Any | None:
    """The scene last stored for ``node_id``, or None."""
    return _scenes.get(str(node_id))


def forget_all() -> None:
    _scenes.clear()
