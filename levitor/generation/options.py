"""The generator's option vocabulary: precision, offload and temporal-context names and defaults.

Defined once here and read by the pipeline, the CLI and the ComfyUI nodes. This module imports
nothing heavy (no torch), so front ends can build their menus without loading the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import SimpleNamespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class Precision(str, Enum):
    """How the models are held and run (see :func:`levitor.generation.loading.resolve_precision`)."""

    AUTO = "auto"  # fp16-autocast on CUDA, fp16 on MPS, fp32 elsewhere
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    FP16_AUTOCAST = "fp16-autocast"  # fp32 UNet/ControlNet under fp16 autocast: the original's regime


class Offload(str, Enum):
    """Where the weights live while sampling."""

    NONE = "none"  # everything on the device
    MODEL = "model"  # each model moves to the device while it runs
    SEQUENTIAL = "sequential"  # weights stream in layer by layer


class TemporalContext(str, Enum):
    """Which image context the temporal transformer blocks attend to.

    ``PER_SAMPLE``: every video in a batch attends to its own first-frame CLIP embedding (current
    diffusers, what SVD was trained with). ``REFERENCE``: the order of diffusers 0.24, which the
    original implementation ran: the first-frame contexts are broadcast in (position, batch) order
    and read back in (batch, position) order, so with a batch of 2 (classifier-free guidance)
    every other spatial position of both halves attends to the other half's context. With a batch
    of one video both modes compute the same thing.
    """

    REFERENCE = "reference"
    PER_SAMPLE = "per-sample"


PRECISIONS: tuple[str, ...] = tuple(p.value for p in Precision)
OFFLOAD_MODES: tuple[str, ...] = tuple(o.value for o in Offload)
TEMPORAL_CONTEXTS: tuple[str, ...] = tuple(t.value for t in TemporalContext)

DEFAULT_PRECISION = Precision.AUTO.value
DEFAULT_OFFLOAD = Offload.NONE.value
#: Every generation entry point (pipeline, CLI, nodes) reproduces the original by default.
DEFAULT_TEMPORAL_CONTEXT = TemporalContext.REFERENCE.value
#: The bare models behave as stock diffusers until told otherwise (training uses this).
MODEL_TEMPORAL_CONTEXT = TemporalContext.PER_SAMPLE.value

PRECISION_HELP = "auto: fp16-autocast on CUDA, fp16 on MPS, fp32 on CPU; fp16-autocast is the original's regime"
OFFLOAD_HELP = "move models to the device only while they run (model) or per layer (sequential)"
TEMPORAL_CONTEXT_HELP = (
    "context of the temporal attention with guidance: reference = the original implementation's "
    "(diffusers 0.24) order, per-sample = each guidance half its own (current diffusers)"
)


def _choose(value, allowed: tuple[str, ...], what: str) -> str:
    text = value.value if isinstance(value, Enum) else value
    if text not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}; got {value!r}.")
    return text


def check_precision(value) -> str:
    """The precision name of ``value`` (a :class:`Precision` or its string); ValueError otherwise."""
    return _choose(value, PRECISIONS, "precision")


def check_offload(value) -> str | None:
    """``None`` for no offload (``None`` or ``"none"``), else ``"model"`` / ``"sequential"``."""
    if value is None:
        return None
    text = _choose(value, OFFLOAD_MODES, "offload")
    return None if text == Offload.NONE.value else text


def check_temporal_context(value) -> str:
    """The temporal-context name of ``value``; ValueError naming the choices otherwise."""
    return _choose(value, TEMPORAL_CONTEXTS, "temporal_context")


#: The sampler's settings and their defaults (the original demo's); front ends read these instead
#: of retyping the numbers (``SAMPLING.fps``, ...). Read-only.
SAMPLING = SimpleNamespace(
    num_inference_steps=25,  # Euler steps
    min_guidance_scale=1.0,  # classifier-free guidance of the first frame ...
    max_guidance_scale=3.0,  # ... and of the last (linear in between)
    fps=6,  # the model is conditioned on fps - 1
    motion_bucket_id=100,  # SVD's motion conditioning
    noise_aug_strength=0.02,  # noise added to the conditioning image
    control_scale=1.0,  # multiplies every ControlNet residual
    seed=217,  # the original demo's seed
    temporal_context=DEFAULT_TEMPORAL_CONTEXT,
)


@dataclass(frozen=True)
class PrecisionPlan:
    """Which dtype each component is held in, and whether UNet/ControlNet run under autocast.

    ``fp16-autocast`` is the original implementation's regime: fp32 UNet and ControlNet weights
    executed under ``torch.autocast(float16)`` with fp32 outputs, VAE and image encoder in fp16.
    """

    name: str
    denoiser_dtype: torch.dtype
    vae_dtype: torch.dtype
    image_encoder_dtype: torch.dtype
    autocast_dtype: torch.dtype | None = None
