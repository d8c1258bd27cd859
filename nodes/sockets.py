"""The objects passed on this pack's custom sockets.

``LEVITOR_TRACKS`` carries :class:`TrackSet` (the planning inputs), ``LEVITOR_MASKS`` carries
:class:`MovedMaskSet` (the render stage's ``levitor.planning.stages.RenderResult``: per-frame label
and depth maps), ``LEVITOR_CONTROL`` carries a ``levitor.planning.plan.PlanResult`` and
``LEVITOR_MODEL`` a :class:`LeviTorModel`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from levitor.planning.stages import RenderResult

TRACKS = "LEVITOR_TRACKS"
MASKS = "LEVITOR_MASKS"
CONTROL = "LEVITOR_CONTROL"
MODEL = "LEVITOR_MODEL"

CATEGORY = "LeviTor"


@dataclass
class TrackSet:
    """A start image with its depth, object masks, optional static segments and one track per object.

    ``tracks[k]`` moves ``object_masks[k]``; when there is one track more than there are
    objects, the last one is a camera track (it moves the background, see the render node).
    """

    image: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float64 reference depth
    object_masks: list[np.ndarray]
    static_masks: list[np.ndarray]
    tracks: list[list[tuple[float, float, float]]]
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def has_camera_track(self) -> bool:
        return len(self.tracks) == len(self.object_masks) + 1


# Per-frame label and depth maps of a scene moved along its trajectories: the render stage's result.
MovedMaskSet = RenderResult


@dataclass
class LeviTorModel:
    """A loaded ``LeviTorPipeline`` and its CPU offload mode (None: it stays on the device)."""

    pipeline: Any
    offload: str | None
