"""Neural network modules of the generator: the SVD ControlNet and the control-aware SVD UNet.

Importing this package imports diffusers; the rest of :mod:`levitor` does not need it.
"""

from .controlnet_svd import (
    ControlNetConditioningEmbeddingSVD,
    ControlNetSVDModel,
    ControlNetSVDOutput,
)
from .unet_svd import UNetSpatioTemporalControlModel

__all__ = [
    "ControlNetConditioningEmbeddingSVD",
    "ControlNetSVDModel",
    "ControlNetSVDOutput",
    "UNetSpatioTemporalControlModel",
]
