"""Test oracle: the temporal-attention context order of diffusers 0.24, written out independently.

``old_order(model)`` replaces, on that one model instance only, the forward of every
``TransformerSpatioTemporalModel`` by a plain re-statement of the 0.24 forward: the first-frame
context of each video is broadcast to ``(height*width, batch, L, D)`` and flattened to
``(height*width*batch, L, D)`` before the temporal blocks read it row by row in video-major order.
"""

from __future__ import annotations

import types

import torch
from diffusers.models.transformers.transformer_temporal import (
    TransformerSpatioTemporalModel,
    TransformerTemporalModelOutput,
)


def _old_forward(self, hidden_states, encoder_hidden_states=None, image_only_indicator=None, return_dict=True):
    batch_frames, _, height, width = hidden_states.shape
    num_frames = image_only_indicator.shape[-1]
    batch = batch_frames // num_frames
    tokens, dim = encoder_hidden_states.shape[-2:]
    first = encoder_hidden_states.reshape(batch, num_frames, tokens, dim)[:, 0]
    # 0.24: broadcast in (position, batch) order, then flatten
    time_context = first[None].broadcast_to(height * width, batch, tokens, dim).reshape(height * width * batch, tokens, dim)

    residual = hidden_states
    x = self.norm(hidden_states)
    channels = x.shape[1]
    x = self.proj_in(x.permute(0, 2, 3, 1).reshape(batch_frames, height * width, channels))
    frame_ids = torch.arange(num_frames, device=x.device).repeat(batch, 1).reshape(-1)
    emb = self.time_pos_embed(self.time_proj(frame_ids).to(x.dtype))[:, None, :]
    for block, temporal in zip(self.transformer_blocks, self.temporal_transformer_blocks):
        x = block(x, encoder_hidden_states=encoder_hidden_states)
        mixed = temporal(x + emb, num_frames=num_frames, encoder_hidden_states=time_context)
        x = self.time_mixer(x_spatial=x, x_temporal=mixed, image_only_indicator=image_only_indicator)
    x = self.proj_out(x).reshape(batch_frames, height, width, channels).permute(0, 3, 1, 2).contiguous()
    out = x + residual
    return TransformerTemporalModelOutput(sample=out) if return_dict else (out,)


def old_order(model: torch.nn.Module) -> torch.nn.Module:
    """Give ``model``'s spatio-temporal transformers the 0.24 context order (this instance only)."""
    count = 0
    for module in model.modules():
        if isinstance(module, TransformerSpatioTemporalModel):
            module.forward = types.MethodType(_old_forward, module)
            count += 1
    assert count > 0
    return model
