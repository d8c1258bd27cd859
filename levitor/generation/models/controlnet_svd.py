"""ControlNet for Stable Video Diffusion, in the layout of LeviTor's released ``controlnet/`` folder.

The model is a copy of the SVD UNet encoder (``conv_in``, time embeddings, ``down_blocks``,
``mid_block``) plus a small convolutional embedding of the 3-channel control maps whose output is
added to the ``conv_in`` features, and 12 + 1 zero-initialised 1×1 convolutions that turn every skip
tensor and the mid-block output into residuals for :class:`~levitor.generation.models.unet_svd.UNetSpatioTemporalControlModel`.

State-dict prefixes: ``conv_in``, ``time_embedding``, ``add_embedding``,
``controlnet_cond_embedding.{conv_in,blocks.0-5,conv_out}``, ``down_blocks``, ``mid_block``,
``controlnet_down_blocks.0-11``, ``controlnet_mid_block``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import AttentionMixin
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.unets.unet_3d_blocks import UNetMidBlockSpatioTemporal, get_down_block
from diffusers.utils import BaseOutput
from torch import nn
from torch.nn import functional as F

from .temporal_context import TemporalContextMixin
from .unet_svd import run_encoder, svd_embeddings

_DOWN_BLOCKS = (
    "CrossAttnDownBlockSpatioTemporal",
    "CrossAttnDownBlockSpatioTemporal",
    "CrossAttnDownBlockSpatioTemporal",
    "DownBlockSpatioTemporal",
)
_UP_BLOCKS = (
    "UpBlockSpatioTemporal",
    "CrossAttnUpBlockSpatioTemporal",
    "CrossAttnUpBlockSpatioTemporal",
    "CrossAttnUpBlockSpatioTemporal",
)


@dataclass
class ControlNetSVDOutput(BaseOutput):
    """Residuals produced by :class:`ControlNetSVDModel`.

    Args:
        down_block_res_samples: one tensor per UNet skip connection (12 for SVD), each
            ``(B·F, C_i, h_i, w_i)``, already multiplied by ``conditioning_scale``.
        mid_block_res_sample: ``(B·F, C_mid, h_mid, w_mid)``, already scaled.
    """

    down_block_res_samples: tuple[torch.Tensor, ...]
    mid_block_res_sample: torch.Tensor


def describe_mismatch(missing: Sequence[str], unexpected: Sequence[str], wrong: Sequence[str]) -> str:
    """One line about the tensors a state dict lacks, has too many of, or has in other shapes ("" if none)."""
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {', '.join(sorted(missing)[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(sorted(unexpected)[:3])})")
    if wrong:
        parts.append(f"{len(wrong)} with other shapes (e.g. {'; '.join(list(wrong)[:3])})")
    return "; ".join(parts)


def state_dict_mismatch(model: torch.nn.Module, state_dict: dict) -> str:
    """What keeps ``state_dict`` from loading strictly into ``model`` (missing, unexpected, other
    shapes, with examples), or ``""`` when it fits."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    wrong = [f"{k}: file {tuple(state_dict[k].shape)} vs model {expected[k]}"
             for k in expected if k in state_dict and tuple(state_dict[k].shape) != expected[k]]
    return describe_mismatch(set(expected) - set(state_dict), set(state_dict) - set(expected), wrong)


def zero_module(module: nn.Module) -> nn.Module:
    """Set every parameter of ``module`` to zero and return it."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ControlNetConditioningEmbeddingSVD(nn.Module):
    """Embed full-resolution control maps ``(N, C, H, W)`` to ``(N, out, H/8, W/8)`` features.

    ``conv_in`` (C → c0), then per stage a 3×3 conv keeping the width and a stride-2 3×3 conv to the
    next width, SiLU after each of these convs, and a zero-initialised 3×3 ``conv_out``.
    """

    def __init__(
        self,
        conditioning_embedding_channels: int,
        conditioning_channels: int = 3,
        block_out_channels: Sequence[int] = (16, 32, 96, 256),
    ):
        super().__init__()
        self.conv_in = nn.Conv2d(conditioning_channels, block_out_channels[0], kernel_size=3, padding=1)
        self.blocks = nn.ModuleList([])
        for c_in, c_out in zip(block_out_channels[:-1], block_out_channels[1:]):
            self.blocks.append(nn.Conv2d(c_in, c_in, kernel_size=3, padding=1))
            self.blocks.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, stride=2))
        self.conv_out = zero_module(
            nn.Conv2d(block_out_channels[-1], conditioning_embedding_channels, kernel_size=3, padding=1)
        )

    def forward(self, conditioning: torch.Tensor) -> torch.Tensor:
        """``conditioning``: ``(N, C, H, W)`` or ``(B, F, C, H, W)`` (frames are flattened into N)."""
        if conditioning.ndim == 5:
            conditioning = conditioning.flatten(0, 1)
        x = F.silu(self.conv_in(conditioning))
        for conv in self.blocks:
            x = F.silu(conv(x))
        return self.conv_out(x)


class ControlNetSVDModel(TemporalContextMixin, ModelMixin, AttentionMixin, ConfigMixin):
    """SVD ControlNet taking ``(B, F, 3, H, W)`` control maps (682,021,537 parameters at SVD-xt size).

    The constructor arguments mirror the SVD UNet config plus the control embedding; the keys
    ``with_id_feature``, ``feature_channels`` and ``feature_out_channels`` of the original
    ``config.json`` are accepted, but only ``with_id_feature=False`` (the released model) is
    supported. Load released or saved folders with :func:`levitor.generation.loading.load_controlnet`
    (it validates the config and requires an exact state dict). :meth:`set_temporal_context`
    chooses the temporal-attention context order (default ``"per-sample"``, as stock diffusers).
    """

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 8,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = _DOWN_BLOCKS,
        up_block_types: tuple[str, ...] = _UP_BLOCKS,
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 768,
        layers_per_block: int | tuple[int, ...] = 2,
        cross_attention_dim: int | tuple[int, ...] = 1024,
        transformer_layers_per_block: int | tuple[int, ...] = 1,
        num_attention_heads: int | tuple[int, ...] = (5, 10, 20, 20),
        num_frames: int = 25,
        conditioning_channels: int = 3,
        conditioning_embedding_out_channels: tuple[int, ...] = (16, 32, 96, 256),
        with_id_feature: bool = False,
        feature_channels: int = 160,
        feature_out_channels: tuple[int, ...] = (160, 160, 256, 256),
    ):
        super().__init__()
        if not isinstance(with_id_feature, bool):
            raise ValueError(
                f"ControlNetSVDModel: with_id_feature must be true or false, got {with_id_feature!r}."
            )
        if with_id_feature:
            raise ValueError(
                "ControlNetSVDModel: with_id_feature=true (the point-feature adapter variant) is not "
                "supported; the released LeviTor ControlNet uses with_id_feature=false. Set it to false "
                "in config.json or use the released controlnet/ folder."
            )
        n = len(down_block_types)
        if len(block_out_channels) != n:
            raise ValueError(
                f"ControlNetSVDModel: block_out_channels has {len(block_out_channels)} entries but "
                f"down_block_types has {n}; give one channel count per down block."
            )
        heads = (num_attention_heads,) * n if isinstance(num_attention_heads, int) else tuple(num_attention_heads)
        cross = (cross_attention_dim,) * n if isinstance(cross_attention_dim, int) else tuple(cross_attention_dim)
        layers = (layers_per_block,) * n if isinstance(layers_per_block, int) else tuple(layers_per_block)
        tlayers = (
            (transformer_layers_per_block,) * n
            if isinstance(transformer_layers_per_block, int)
            else tuple(transformer_layers_per_block)
        )
        if not (len(heads) == len(cross) == len(layers) == len(tlayers) == n):
            raise ValueError(
                "ControlNetSVDModel: num_attention_heads, cross_attention_dim, layers_per_block and "
                f"transformer_layers_per_block must be ints or have {n} entries (one per down block)."
            )

        c0 = block_out_channels[0]
        time_embed_dim = c0 * 4
        self.conv_in = nn.Conv2d(in_channels, c0, kernel_size=3, padding=1)
        self.time_proj = Timesteps(c0, True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(c0, time_embed_dim)
        self.add_time_proj = Timesteps(addition_time_embed_dim, True, downscale_freq_shift=0)
        self.add_embedding = TimestepEmbedding(projection_class_embeddings_input_dim, time_embed_dim)

        self.controlnet_cond_embedding = ControlNetConditioningEmbeddingSVD(
            conditioning_embedding_channels=c0,
            conditioning_channels=conditioning_channels,
            block_out_channels=conditioning_embedding_out_channels,
        )

        self.down_blocks = nn.ModuleList([])
        self.controlnet_down_blocks = nn.ModuleList([zero_module(nn.Conv2d(c0, c0, kernel_size=1))])
        output_channel = c0
        for i, block_type in enumerate(down_block_types):
            input_channel, output_channel = output_channel, block_out_channels[i]
            is_final = i == n - 1
            self.down_blocks.append(
                get_down_block(
                    block_type,
                    num_layers=layers[i],
                    transformer_layers_per_block=tlayers[i],
                    in_channels=input_channel,
                    out_channels=output_channel,
                    temb_channels=time_embed_dim,
                    add_downsample=not is_final,
                    resnet_eps=1e-5,
                    cross_attention_dim=cross[i],
                    num_attention_heads=heads[i],
                    resnet_act_fn="silu",
                )
            )
            for _ in range(layers[i] + (0 if is_final else 1)):
                self.controlnet_down_blocks.append(
                    zero_module(nn.Conv2d(output_channel, output_channel, kernel_size=1))
                )

        self.mid_block = UNetMidBlockSpatioTemporal(
            block_out_channels[-1],
            temb_channels=time_embed_dim,
            transformer_layers_per_block=tlayers[-1],
            cross_attention_dim=cross[-1],
            num_attention_heads=heads[-1],
        )
        self.controlnet_mid_block = zero_module(
            nn.Conv2d(block_out_channels[-1], block_out_channels[-1], kernel_size=1)
        )

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs: Any):
        """diffusers' ``from_pretrained``, strict: a missing, unexpected or differently shaped tensor
        is a ``ValueError`` instead of a randomly initialised layer. (The library itself loads
        ControlNets with :func:`levitor.generation.loading.load_controlnet`.)"""
        want_info = kwargs.pop("output_loading_info", False)
        kwargs.setdefault("use_safetensors", True)
        try:
            model, info = super().from_pretrained(pretrained_model_name_or_path, output_loading_info=True, **kwargs)
        except (RuntimeError, OSError, ValueError) as exc:
            raise ValueError(f"cannot load a ControlNetSVDModel from {str(pretrained_model_name_or_path)!r}: {exc}") from exc
        wrong = [f"{k}: file {tuple(a)} vs model {tuple(b)}" for k, a, b in info.get("mismatched_keys") or []]
        problem = describe_mismatch(info.get("missing_keys") or [], info.get("unexpected_keys") or [], wrong)
        if problem:
            raise ValueError(f"ControlNet weights in {str(pretrained_model_name_or_path)!r} do not match its config: "
                             f"{problem}. Use the config.json that came with the weights.")
        return (model, info) if want_info else model

    @classmethod
    def from_unet(
        cls,
        unet: nn.Module,
        conditioning_channels: int = 3,
        load_weights_from_unet: bool = True,
        conditioning_embedding_out_channels: tuple[int, ...] = (16, 32, 96, 256),
    ) -> ControlNetSVDModel:
        """Build a ControlNet with the architecture of an SVD ``unet`` and (optionally) its encoder weights.

        Copies ``conv_in``, ``time_embedding``, ``add_embedding``, ``down_blocks`` and ``mid_block``.
        The original LeviTor training code did not copy ``add_embedding`` (its ControlNet started
        that layer from random initialisation); copying it is the better starting point and does
        not matter when loading released weights. The control embedding's output conv and all
        residual convs start at zero, so a fresh ControlNet leaves the UNet's output unchanged.
        """
        cfg = unet.config
        controlnet = cls(
            sample_size=cfg.sample_size,
            in_channels=cfg.in_channels,
            out_channels=cfg.out_channels,
            down_block_types=tuple(cfg.down_block_types),
            up_block_types=tuple(cfg.up_block_types),
            block_out_channels=tuple(cfg.block_out_channels),
            addition_time_embed_dim=cfg.addition_time_embed_dim,
            projection_class_embeddings_input_dim=cfg.projection_class_embeddings_input_dim,
            layers_per_block=cfg.layers_per_block,
            cross_attention_dim=cfg.cross_attention_dim,
            transformer_layers_per_block=cfg.transformer_layers_per_block,
            num_attention_heads=cfg.num_attention_heads,
            num_frames=cfg.num_frames,
            conditioning_channels=conditioning_channels,
            conditioning_embedding_out_channels=tuple(conditioning_embedding_out_channels),
        )
        if load_weights_from_unet:
            for name in ("conv_in", "time_embedding", "add_embedding", "down_blocks", "mid_block"):
                getattr(controlnet, name).load_state_dict(getattr(unet, name).state_dict())
        if unet.dtype != controlnet.dtype:
            controlnet = controlnet.to(dtype=unet.dtype)
        return controlnet

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        controlnet_cond: torch.Tensor,
        conditioning_scale: float = 1.0,
        return_dict: bool = True,
    ) -> ControlNetSVDOutput | tuple[Any, ...]:
        """Compute the 12 + 1 residuals for the SVD UNet.

        Args:
            sample: ``(B, F, 8, h, w)`` scaled noisy latents concatenated with the image latents.
            timestep: continuous timestep (scalar or tensor).
            encoder_hidden_states: ``(B, 1, 1024)`` CLIP image embedding.
            added_time_ids: ``(B, 3)`` micro-conditioning ``[fps - 1, motion_bucket_id, noise_aug]``.
            controlnet_cond: ``(B, F, C, H, W)`` control maps at image resolution (``H = 8h``).
            conditioning_scale: multiplies every residual.
            return_dict: return :class:`ControlNetSVDOutput` instead of a tuple.
        """
        batch_size, num_frames = sample.shape[:2]
        if controlnet_cond.ndim != 5 or controlnet_cond.shape[:2] != sample.shape[:2]:
            raise ValueError(
                f"controlnet_cond must be (B, F, C, H, W) with B, F = {tuple(sample.shape[:2])}, "
                f"got {tuple(controlnet_cond.shape)}."
            )
        sample, emb, encoder_hidden_states = svd_embeddings(
            self, sample, timestep, encoder_hidden_states, added_time_ids
        )
        sample = self.conv_in(sample)
        cond = self.controlnet_cond_embedding(controlnet_cond.to(sample.dtype))
        if cond.shape[-2:] != sample.shape[-2:]:
            raise ValueError(
                f"controlnet_cond of size {tuple(controlnet_cond.shape[-2:])} embeds to "
                f"{tuple(cond.shape[-2:])} but the latents are {tuple(sample.shape[-2:])}; the control "
                "maps must have the image's height and width (8x the latent size)."
            )
        sample = sample + cond
        image_only_indicator = torch.zeros(batch_size, num_frames, dtype=sample.dtype, device=sample.device)

        sample, skips = run_encoder(self, sample, emb, encoder_hidden_states, image_only_indicator)
        down = tuple(conv(s) * conditioning_scale for s, conv in zip(skips, self.controlnet_down_blocks))
        mid = self.controlnet_mid_block(sample) * conditioning_scale
        if not return_dict:
            return (down, mid)
        return ControlNetSVDOutput(down_block_res_samples=down, mid_block_res_sample=mid)
