"""The image context of the temporal attention blocks: per sample (current diffusers) or reference order.

diffusers' ``TransformerSpatioTemporalModel`` gives its temporal blocks one context row per
``(video, spatial position)``: the first-frame CLIP embedding of that video, rows ordered
video-major (``b * H*W + p``). diffusers 0.24, which the original implementation ran, built the
same rows position-major (``p * B + b``) but they were read video-major, so row ``b * H*W + p``
received the context of video ``(b * H*W + p) mod B``. With classifier-free guidance (``B = 2``)
every other spatial position of both halves therefore attends to the other half's context.

:class:`TemporalContextMixin` gives a model ``set_temporal_context("reference" | "per-sample")``.
The switch lives in the model's own temporal blocks (their class is changed to
:class:`ContextOrderTemporalBlock`, a subclass of diffusers' block with the same parameters);
nothing in diffusers is modified, so other models in the process are unaffected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from diffusers.models.attention import TemporalBasicTransformerBlock

from ..options import MODEL_TEMPORAL_CONTEXT, TemporalContext, check_temporal_context


def reference_order(context: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Reorder per-sample temporal context rows ``(B*HW, L, D)`` to the reference order.

    Row ``b * HW + p`` of the input holds video ``b``'s context; row ``j`` of the output holds the
    context of video ``j mod B``.
    """
    rows = context.shape[0]
    if batch_size < 1 or rows % batch_size:
        raise ValueError(
            f"temporal context has {rows} rows, which is not a multiple of the batch size {batch_size}; "
            "this diffusers version passes the temporal blocks a context layout LeviTor does not know. "
            "Use temporal_context='per-sample'."
        )
    positions = rows // batch_size
    first = context.unflatten(0, (batch_size, positions))[:, 0]  # (B, L, D): one context per video
    return first.repeat(positions, 1, 1)


class ContextOrderTemporalBlock(TemporalBasicTransformerBlock):
    """diffusers' temporal transformer block whose cross-attention context follows ``temporal_context``."""

    temporal_context: str = MODEL_TEMPORAL_CONTEXT

    def forward(self, hidden_states: torch.Tensor, num_frames: int,
                encoder_hidden_states: torch.Tensor | None = None) -> torch.Tensor:
        if encoder_hidden_states is not None and self.temporal_context == TemporalContext.REFERENCE.value:
            encoder_hidden_states = reference_order(encoder_hidden_states, hidden_states.shape[0] // num_frames)
        return super().forward(hidden_states, num_frames, encoder_hidden_states=encoder_hidden_states)


class TemporalContextMixin:
    """``set_temporal_context`` / ``temporal_context`` for a model holding SVD temporal blocks."""

    @property
    def temporal_context(self) -> str:
        """``"per-sample"`` (the default, as stock diffusers) or ``"reference"``."""
        return getattr(self, "_temporal_context", MODEL_TEMPORAL_CONTEXT)

    def set_temporal_context(self, mode: str | TemporalContext) -> None:
        """Choose the temporal-attention context order: ``"reference"`` or ``"per-sample"``.

        The first call gives the model's temporal blocks the switchable class; make it before
        wrapping the model in hooks that capture ``forward`` (``LeviTorPipeline`` does so when it
        is built).
        """
        mode = check_temporal_context(mode)
        blocks = [m for m in self.modules() if isinstance(m, TemporalBasicTransformerBlock)]
        for block in blocks:
            if not isinstance(block, ContextOrderTemporalBlock):
                if type(block) is not TemporalBasicTransformerBlock:
                    raise ValueError(
                        f"set_temporal_context: {type(block).__name__} is not diffusers' temporal block; "
                        "the context order of this model cannot be switched."
                    )
                block.__class__ = ContextOrderTemporalBlock
            block.temporal_context = mode
        self._temporal_context = mode

    @contextlib.contextmanager
    def temporal_context_as(self, mode: str | TemporalContext | None) -> Iterator[None]:
        """Use ``mode`` inside the ``with`` block, then restore the previous one (``None``: no change)."""
        if mode is None:
            yield
            return
        previous = self.temporal_context
        self.set_temporal_context(mode)
        try:
            yield
        finally:
            self.set_temporal_context(previous)
