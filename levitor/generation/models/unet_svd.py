"""The Stable Video Diffusion UNet with ControlNet residual inputs.

:class:`UNetSpatioTemporalControlModel` has exactly the module tree, parameter names and config
of diffusers' :class:`~diffusers.UNetSpatioTemporalConditionModel`, so the stock SVD-xt ``unet/``
folder loads into it unchanged. Only ``forward`` differs:

* ``down_block_additional_residuals`` (one tensor per skip connection, 12 for SVD) are added to the
  encoder's skip tensors and ``mid_block_additional_residual`` to the mid-block output;
* every up block upsamples to the exact size of the skip tensor it is concatenated with, so latent
  sizes that are not multiples of 8 (e.g. 64×36 → 32×18 → 16×9 → 8×5 and back) work;
* ``set_temporal_context("reference")`` restores the temporal-attention context order of
  diffusers 0.24 (the original implementation's); the default ``"per-sample"`` is stock diffusers
  (see :mod:`.temporal_context`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.models.unets.unet_spatio_temporal_condition import (
    UNetSpatioTemporalConditionModel,
    UNetSpatioTemporalConditionOutput,
)

from .temporal_context import TemporalContextMixin


def _timestep_tensor(timestep: torch.Tensor | float | int, sample: torch.Tensor) -> torch.Tensor:
    """Turn a scalar or tensor timestep into a 1-D tensor broadcast over the batch of ``sample``."""
    if not torch.is_tensor(timestep):
        is_float = isinstance(timestep, float)
        if sample.device.type == "mps":
            dtype = torch.float32 if is_float else torch.int32
        else:
            dtype = torch.float64 if is_float else torch.int64
        timestep = torch.tensor([timestep], dtype=dtype, device=sample.device)
    elif timestep.ndim == 0:
        timestep = timestep[None].to(sample.device)
    else:
        timestep = timestep.to(sample.device)
    return timestep.expand(sample.shape[0])


def _match_dtype(residual: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cast a residual to the skip tensor's dtype, except under autocast (there the sum is promoted,
    as when fp32 ControlNet outputs meet fp16 autocast activations in the original implementation)."""
    try:
        autocast = torch.is_autocast_enabled(target.device.type)
    except TypeError:  # torch < 2.4
        autocast = torch.is_autocast_enabled()
    return residual if autocast else residual.to(target.dtype)


def svd_embeddings(
    model: torch.nn.Module,
    sample: torch.Tensor,
    timestep: torch.Tensor | float | int,
    encoder_hidden_states: torch.Tensor,
    added_time_ids: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Time + micro-conditioning embedding of an SVD encoder, repeated per frame.

    Shared by the UNet and the ControlNet (both own ``time_proj``, ``time_embedding``,
    ``add_time_proj`` and ``add_embedding``). Returns ``(flat_sample, emb, encoder_hidden_states)``
    with the batch and frame axes flattened.
    """
    batch_size, num_frames = sample.shape[:2]
    timesteps = _timestep_tensor(timestep, sample)
    # Timesteps has no weights and always returns fp32; the embedding may run in half precision.
    t_emb = model.time_proj(timesteps).to(dtype=sample.dtype)
    emb = model.time_embedding(t_emb)
    time_embeds = model.add_time_proj(added_time_ids.flatten()).reshape((batch_size, -1))
    emb = emb + model.add_embedding(time_embeds.to(emb.dtype))
    emb = emb.repeat_interleave(num_frames, dim=0)
    encoder_hidden_states = encoder_hidden_states.repeat_interleave(num_frames, dim=0)
    return sample.flatten(0, 1), emb, encoder_hidden_states


def run_encoder(
    model: torch.nn.Module,
    sample: torch.Tensor,
    emb: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    image_only_indicator: torch.Tensor,
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """Run ``model.down_blocks`` and ``model.mid_block`` on the ``conv_in`` output; return the
    mid-block output and all skips of the down blocks."""
    skips: tuple[torch.Tensor, ...] = (sample,)
    for block in model.down_blocks:
        if getattr(block, "has_cross_attention", False):
            sample, res = block(
                hidden_states=sample,
                temb=emb,
                encoder_hidden_states=encoder_hidden_states,
                image_only_indicator=image_only_indicator,
            )
        else:
            sample, res = block(hidden_states=sample, temb=emb, image_only_indicator=image_only_indicator)
        skips += res
    sample = model.mid_block(
        hidden_states=sample,
        temb=emb,
        encoder_hidden_states=encoder_hidden_states,
        image_only_indicator=image_only_indicator,
    )
    return sample, skips


class UNetSpatioTemporalControlModel(TemporalContextMixin, UNetSpatioTemporalConditionModel):
    """SVD UNet whose forward accepts ControlNet residuals and any latent size.

    Same ``__init__``, config and weights as :class:`diffusers.UNetSpatioTemporalConditionModel`
    (1,524,623,082 parameters at the SVD-xt config); load it with ``from_pretrained(svd, subfolder="unet")``.
    :meth:`set_temporal_context` chooses the temporal-attention context order (default ``"per-sample"``).
    """

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        down_block_additional_residuals: Sequence[torch.Tensor] | None = None,
        mid_block_additional_residual: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> UNetSpatioTemporalConditionOutput | tuple:
        """Predict the model output for ``sample`` ``(B, F, C, h, w)``.

        Args:
            sample: noisy latents concatenated with the image latents, ``(B, F, 8, h, w)``.
            timestep: continuous timestep (scalar or tensor).
            encoder_hidden_states: CLIP image embedding ``(B, 1, 1024)``.
            added_time_ids: ``(B, 3)`` = ``[fps - 1, motion_bucket_id, noise_aug_strength]``.
            down_block_additional_residuals: one residual per skip connection (12 for SVD), each of
                the skip's shape ``(B·F, C_i, h_i, w_i)``; added before the decoder consumes them.
            mid_block_additional_residual: added to the mid-block output.
            return_dict: return a :class:`UNetSpatioTemporalConditionOutput` instead of a tuple.
        """
        batch_size, num_frames = sample.shape[:2]
        sample, emb, encoder_hidden_states = svd_embeddings(
            self, sample, timestep, encoder_hidden_states, added_time_ids
        )
        sample = self.conv_in(sample)
        image_only_indicator = torch.zeros(batch_size, num_frames, dtype=sample.dtype, device=sample.device)

        sample, skips = run_encoder(self, sample, emb, encoder_hidden_states, image_only_indicator)

        if down_block_additional_residuals is not None:
            residuals = list(down_block_additional_residuals)
            if len(residuals) != len(skips):
                raise ValueError(
                    f"down_block_additional_residuals has {len(residuals)} tensors but the UNet has "
                    f"{len(skips)} skip connections; pass the ControlNet's down_block_res_samples unchanged."
                )
            skips = tuple(s + _match_dtype(r, s) for s, r in zip(skips, residuals))
        if mid_block_additional_residual is not None:
            sample = sample + _match_dtype(mid_block_additional_residual, sample)

        for i, block in enumerate(self.up_blocks):
            n = len(block.resnets)
            res_samples, skips = skips[-n:], skips[:-n]
            # Upsample to the exact size of the next skip tensor (handles odd sizes such as 9 → 18).
            upsample_size = skips[-1].shape[2:] if i < len(self.up_blocks) - 1 else None
            kwargs = dict(
                hidden_states=sample,
                temb=emb,
                res_hidden_states_tuple=res_samples,
                upsample_size=upsample_size,
                image_only_indicator=image_only_indicator,
            )
            if getattr(block, "has_cross_attention", False):
                kwargs["encoder_hidden_states"] = encoder_hidden_states
            sample = block(**kwargs)

        sample = self.conv_out(self.conv_act(self.conv_norm_out(sample)))
        sample = sample.reshape(batch_size, num_frames, *sample.shape[1:])
        if not return_dict:
            return (sample,)
        return UNetSpatioTemporalConditionOutput(sample=sample)
