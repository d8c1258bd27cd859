"""The objects passed on this pack's custom sockets.

``LEVITOR_TRACKS`` carries :class:`TrackSet` (the planning inputs), ``LEVITOR_MASKS`` carries
:class:`MovedMaskSet` (per-frame label and depth maps), ``LEVITOR_CONTROL`` carries a
``levitor.planning.plan.PlanResult`` and ``LEVITOR_MODEL`` a :class:`LeviTorModel`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

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


@dataclass
class MovedMaskSet:
    """Per-frame label and depth maps of a scene moved along its trajectories."""

    scene: Any  # levitor.planning.scene.Scene
    trajectories: np.ndarray  # (n, F, 3)
    labels: np.ndarray  # (F, H, W) int32
    depths: np.ndarray  # (F, H, W) float32
    area_min: np.ndarray
    area_max: np.ndarray
    options: Any  # levitor.planning.plan.PlanOptions
    notes: list[str] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class LeviTorModel:
    """A loaded ``LeviTorPipeline`` and its CPU offload mode (None: it stays on the device)."""

    pipeline: Any
    offload: str | None
