"""Compatibility path: the generator's networks live in :mod:`levitor.generation.models`."""

from .generation.models import (
    ControlNetConditioningEmbeddingSVD,
    ControlNetSVDModel,
    ControlNetSVDOutput,
    UNetSpatioTemporalControlModel,
)

__all__ = [
    "ControlNetConditioningEmbeddingSVD",
    "ControlNetSVDModel",
    "ControlNetSVDOutput",
    "UNetSpatioTemporalControlModel",
]
