"""Stable Video Diffusion as one SGM-layout file (``svd_xt.safetensors``) ↔ the diffusers modules.

The file ComfyUI users keep in ``models/checkpoints`` holds three networks under fixed prefixes:
``model.diffusion_model.`` (the video UNet), ``first_stage_model.`` (the VAE with its temporal
decoder) and ``conditioner.embedders.0.open_clip.model.visual.`` (the OpenCLIP image tower).
:func:`load_single_file` turns it into the same components :func:`~levitor.generation.loading.load_svd_components`
reads from a diffusers folder, in memory and with a strict check: every tensor the modules need
is present with the right shape, and no tensor under the three prefixes is left over. Tensors under
other prefixes (for example the unused copy of the VAE encoder in ``conditioner.embedders.3``) are
ignored. :func:`components_to_sgm` goes the other way and :func:`save_single_file` writes a file
(used for tiny test checkpoints).

The architecture comes from the tensor shapes. Three things the shapes do not tell are taken from
SVD-xt (attention heads of 64 channels in the UNet, 16 heads and GELU in the image tower) unless
the file's safetensors metadata carries the diffusers configs under ``levitor.configs`` (files
written by :func:`save_single_file` do).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import torch

from ..io.atomic import atomic_path
from .configs import (
    SVD_XT_CLIP_HEADS,
    SVD_XT_SCHEDULER_CONFIG,
    SVD_XT_UNET_EXTRAS,
    attention_heads,
    count_groups,
    tensor_shape,
)
from .models.controlnet_svd import state_dict_mismatch
from .models.unet_svd import UNetSpatioTemporalControlModel
from .options import PrecisionPlan

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "conditioner.embedders.0.open_clip.model.visual."
METADATA_KEY = "levitor.configs"

SVD_XT_VAE_EXTRAS = {"sample_size": 768, "scaling_factor": 0.18215, "force_upcast": True}

# --------------------------------------------------------------------------- key maps
_RES = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
        "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_VAE_RES = {"conv_shortcut": "nin_shortcut"}
_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


_LEVEL = re.compile(r"(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)")
_MID = re.compile(r"mid_block\.(resnets|attentions)\.(\d+)\.(.+)")


def _groups(rx: re.Pattern, key: str) -> tuple | None:
    """The groups of ``rx`` matched at the start of ``key``, digits as ints; None without a match."""
    m = rx.match(key)
    return None if m is None else tuple(int(g) if g.isdigit() else g for g in m.groups())


def _sub(name: str, table: dict[str, str]) -> str:
    """Rename the first dotted component(s) of ``name`` found in ``table``."""
    for old, new in table.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old):]
    return name


def _resnet(rest: str, spatial: dict[str, str], mixer: str) -> str:
    """SGM name inside a video res block: spatial layers renamed by ``spatial``, the temporal ones
    under ``time_stack``, the blend factor as ``mixer``; plain (image) res blocks by ``spatial``."""
    head, _, tail = rest.partition(".")
    if head == "spatial_res_block":
        return _sub(tail, spatial)
    if head == "temporal_res_block":
        return "time_stack." + _sub(tail, _RES)
    return mixer if rest == "time_mixer.mix_factor" else _sub(rest, spatial)


def _unet_resnet(rest: str) -> str:
    return _resnet(rest, _RES, "time_mixer.mix_factor")


def _unet_attention(rest: str) -> str:
    rest = rest.replace("temporal_transformer_blocks.", "time_stack.", 1)
    return _sub(rest, {"time_pos_embed.linear_1": "time_pos_embed.0", "time_pos_embed.linear_2": "time_pos_embed.2"})


def unet_key_to_sgm(key: str, layers_per_block: int, up_has_attention: dict[int, bool]) -> str:
    """SGM name (without prefix) of a diffusers SVD UNet parameter."""
    per_level = layers_per_block + 1
    top = {"conv_in": "input_blocks.0.0", "time_embedding.linear_1": "time_embed.0",
           "time_embedding.linear_2": "time_embed.2", "add_embedding.linear_1": "label_emb.0.0",
           "add_embedding.linear_2": "label_emb.0.2", "conv_norm_out": "out.0", "conv_out": "out.2"}
    renamed = _sub(key, top)
    if renamed != key:
        return renamed
    if level_groups := _groups(_LEVEL, key):
        kind, level, part, j, rest = level_groups
        if kind == "down_blocks":
            if part == "downsamplers":
                return f"input_blocks.{(level + 1) * per_level}.0.{rest.replace('conv.', 'op.', 1)}"
            block = f"input_blocks.{1 + level * per_level + j}"
        else:
            if part == "upsamplers":
                slot = 2 if up_has_attention.get(level) else 1
                return f"output_blocks.{level * per_level + layers_per_block}.{slot}.{rest}"
            block = f"output_blocks.{level * per_level + j}"
        if part == "resnets":
            return f"{block}.0.{_unet_resnet(rest)}"
        return f"{block}.1.{_unet_attention(rest)}"
    if mid := _groups(_MID, key):
        return (f"middle_block.{2 * mid[1]}.{_unet_resnet(mid[2])}" if mid[0] == "resnets"
                else f"middle_block.1.{_unet_attention(mid[2])}")
    raise ValueError(f"no SGM name for the UNet parameter {key!r}")


def _vae_resnet(rest: str) -> str:
    return _resnet(rest, _VAE_RES, "mix_factor")


def vae_key_to_sgm(key: str, num_levels: int) -> str:
    """SGM name (without prefix) of a diffusers ``AutoencoderKLTemporalDecoder`` parameter (not ``quant_conv``)."""
    side, _, rest = key.partition(".")
    if side not in ("encoder", "decoder"):
        raise ValueError(f"no SGM name for the VAE parameter {key!r}")
    top = {"conv_norm_out": "norm_out", "time_conv_out": "conv_out.time_mix_conv"}
    renamed = _sub(rest, top)
    if renamed != rest:
        return f"{side}.{renamed}"
    if rest.startswith(("conv_in.", "conv_out.")):
        return key
    level_groups = _groups(_LEVEL, rest)
    if level_groups and level_groups[2] != "attentions":
        kind, level, part, j, tail = level_groups
        down = kind == "down_blocks"
        base = f"{side}.down.{level}" if down else f"{side}.up.{num_levels - 1 - level}"
        return (f"{base}.block.{j}.{_vae_resnet(tail)}" if part == "resnets"
                else f"{base}.{'downsample' if down else 'upsample'}.{tail}")
    if mid := _groups(_MID, rest):
        return (f"{side}.mid.block_{mid[1] + 1}.{_vae_resnet(mid[2])}" if mid[0] == "resnets"
                else f"{side}.mid.attn_1.{_sub(mid[2], _VAE_ATTN)}")
    raise ValueError(f"no SGM name for the VAE parameter {key!r}")


_CLIP_LAYER = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
               "self_attn.out_proj": "attn.out_proj"}
_CLIP_TOP = {"vision_model.embeddings.class_embedding": "class_embedding",
             "vision_model.embeddings.patch_embedding.weight": "conv1.weight",
             "vision_model.embeddings.position_embedding.weight": "positional_embedding",
             "vision_model.pre_layrnorm": "ln_pre", "vision_model.post_layernorm": "ln_post",
             "visual_projection.weight": "proj"}


def clip_key_to_sgm(key: str) -> str:
    """OpenCLIP name (without prefix) of a ``CLIPVisionModelWithProjection`` parameter.

    ``q_proj``/``k_proj``/``v_proj`` all map to ``attn.in_proj_*`` (stacked in that order).
    """
    renamed = _sub(key, _CLIP_TOP)
    if renamed != key:
        return renamed
    m = re.match(r"vision_model\.encoder\.layers\.(\d+)\.(.+)", key)
    if m:
        i, rest = m.group(1), m.group(2)
        qkv = re.match(r"self_attn\.[qkv]_proj\.(weight|bias)", rest)
        if qkv:
            return f"transformer.resblocks.{i}.attn.in_proj_{qkv.group(1)}"
        return f"transformer.resblocks.{i}.{_sub(rest, _CLIP_LAYER)}"
    raise ValueError(f"no OpenCLIP name for the image-encoder parameter {key!r}")


# --------------------------------------------------------------------------- configs from shapes
def infer_unet_config(unet: dict, path: str = "checkpoint") -> dict:
    """diffusers ``UNetSpatioTemporalConditionModel`` config from SGM UNet tensors (prefix removed)."""
    in_channels = tensor_shape(unet, "input_blocks.0.0.weight", path)[1]
    ops = sorted(int(m.group(1)) for k in unet if (m := re.match(r"input_blocks\.(\d+)\.0\.op\.weight$", k)))
    if not ops:
        raise ValueError(f"{path}: the UNet has no downsampling blocks; not an SVD UNet")
    layers = ops[0] - 1
    levels = len(ops) + 1
    per = layers + 1
    channels, down_types = [], []
    for i in range(levels):
        first = f"input_blocks.{1 + i * per}"
        channels.append(tensor_shape(unet, f"{first}.0.out_layers.3.weight", path)[0])
        has_attn = f"{first}.1.proj_in.weight" in unet
        down_types.append("CrossAttnDownBlockSpatioTemporal" if has_attn else "DownBlockSpatioTemporal")
    up_types = []
    for i in range(levels):
        has_attn = f"output_blocks.{i * per}.1.proj_in.weight" in unet
        up_types.append("CrossAttnUpBlockSpatioTemporal" if has_attn else "UpBlockSpatioTemporal")
    attn_level = next((i for i, t in enumerate(down_types) if t.startswith("CrossAttn")), None)
    if attn_level is None:
        raise ValueError(f"{path}: the UNet has no attention blocks; not an SVD UNet")
    attn = f"input_blocks.{1 + attn_level * per}.1"
    adm = tensor_shape(unet, "label_emb.0.0.weight", path)[1]
    if adm % 3:
        raise ValueError(f"{path}: the UNet's micro-conditioning has {adm} inputs, not 3 embeddings "
                         "(fps, motion bucket, noise augmentation); not an img2vid SVD checkpoint")
    return dict(
        SVD_XT_UNET_EXTRAS,
        in_channels=in_channels,
        out_channels=tensor_shape(unet, "out.2.weight", path)[0],
        down_block_types=down_types,
        up_block_types=up_types,
        block_out_channels=channels,
        addition_time_embed_dim=adm // 3,
        projection_class_embeddings_input_dim=adm,
        layers_per_block=layers,
        cross_attention_dim=tensor_shape(unet, f"{attn}.transformer_blocks.0.attn2.to_k.weight", path)[1],
        transformer_layers_per_block=count_groups(unet, re.escape(attn) + r"\.transformer_blocks\.(\d+)\."),
        num_attention_heads=attention_heads(channels),
    )


def infer_vae_config(vae: dict, path: str = "checkpoint") -> dict:
    """diffusers ``AutoencoderKLTemporalDecoder`` config from SGM VAE tensors (prefix removed)."""
    levels = count_groups(vae, r"encoder\.down\.(\d+)\.")
    if not levels:
        raise ValueError(f"{path}: no VAE encoder tensors under {VAE_PREFIX!r}; not an SVD checkpoint")
    channels = [tensor_shape(vae, f"encoder.down.{i}.block.0.conv1.weight", path)[0] for i in range(levels)]
    return dict(
        SVD_XT_VAE_EXTRAS,
        in_channels=tensor_shape(vae, "encoder.conv_in.weight", path)[1],
        out_channels=tensor_shape(vae, "decoder.conv_out.weight", path)[0],
        down_block_types=["DownEncoderBlock2D"] * levels,
        block_out_channels=channels,
        layers_per_block=count_groups(vae, r"encoder\.down\.0\.block\.(\d+)\."),
        latent_channels=tensor_shape(vae, "decoder.conv_in.weight", path)[1],
    )


def infer_clip_config(clip: dict, path: str = "checkpoint") -> dict:
    """transformers ``CLIPVisionConfig`` arguments from OpenCLIP visual tensors (prefix removed)."""
    hidden = tensor_shape(clip, "class_embedding", path)[0]
    patch = tensor_shape(clip, "conv1.weight", path)[-1]
    grid = math.isqrt(tensor_shape(clip, "positional_embedding", path)[0] - 1)
    return dict(
        hidden_size=hidden,
        intermediate_size=tensor_shape(clip, "transformer.resblocks.0.mlp.c_fc.weight", path)[0],
        num_hidden_layers=count_groups(clip, r"transformer\.resblocks\.(\d+)\."),
        num_attention_heads=SVD_XT_CLIP_HEADS.get(hidden, max(1, hidden // 64)),
        image_size=grid * patch,
        patch_size=patch,
        projection_dim=tensor_shape(clip, "proj", path)[1],
        hidden_act="gelu",
        layer_norm_eps=1e-5,
    )


# --------------------------------------------------------------------------- module ↔ tensors
def _unet_names(unet_module) -> dict[str, str]:
    cfg = unet_module.config
    layers = cfg.layers_per_block if isinstance(cfg.layers_per_block, int) else cfg.layers_per_block[0]
    up_attn = {i: t.startswith("CrossAttn") for i, t in enumerate(cfg.up_block_types)}
    return {k: unet_key_to_sgm(k, layers, up_attn) for k in unet_module.state_dict()}


def _vae_names(vae_module) -> dict[str, str]:
    levels = len(vae_module.config.block_out_channels)
    return {k: vae_key_to_sgm(k, levels) for k in vae_module.state_dict() if not k.startswith("quant_conv.")}


def _clip_names(clip_module) -> dict[str, str]:
    return {k: clip_key_to_sgm(k) for k in clip_module.state_dict() if not k.endswith("position_ids")}


def _as_sgm(key: str, tensor: torch.Tensor) -> torch.Tensor:
    if key.startswith(VAE_PREFIX) and ".mid.attn_1." in key and key.endswith("weight") and tensor.ndim == 2:
        return tensor[:, :, None, None]
    if key == CLIP_PREFIX + "proj":
        return tensor.t().contiguous()
    return tensor


def components_to_sgm(unet, vae, image_encoder) -> dict[str, torch.Tensor]:
    """The SGM single-file state dict of diffusers SVD modules.

    The VAE's ``quant_conv`` (a 1×1 conv the SGM layout does not have) is folded into the encoder's
    ``conv_out``: exact when it is the identity, as in SVD-xt, else equal up to float rounding.
    """
    if vae.config.layers_per_block != 2:
        raise ValueError(f"the SGM layout needs a VAE with layers_per_block 2 (its decoder's middle block has "
                         f"two res blocks), got {vae.config.layers_per_block}")
    out: dict[str, torch.Tensor] = {}
    for prefix, module, names in ((UNET_PREFIX, unet, _unet_names(unet)), (VAE_PREFIX, vae, _vae_names(vae))):
        state = module.state_dict()
        for key, name in names.items():
            out[prefix + name] = _as_sgm(prefix + name, state[key].detach())
    q = vae.quant_conv
    if not (torch.equal(q.weight[:, :, 0, 0], torch.eye(q.weight.shape[0], dtype=q.weight.dtype))
            and not q.bias.any()):
        w, b = out[VAE_PREFIX + "encoder.conv_out.weight"], out[VAE_PREFIX + "encoder.conv_out.bias"]
        qw = q.weight.detach()[:, :, 0, 0].to(w.dtype)
        out[VAE_PREFIX + "encoder.conv_out.weight"] = torch.einsum("oi,ichw->ochw", qw, w)
        out[VAE_PREFIX + "encoder.conv_out.bias"] = qw @ b + q.bias.detach().to(b.dtype)
    clip_state = image_encoder.state_dict()
    qkv: dict[str, list] = {}
    for key, name in _clip_names(image_encoder).items():
        if ".attn.in_proj_" in name:
            qkv.setdefault(name, [None, None, None])["qkv".index(key.split("self_attn.")[1][0])] = clip_state[key]
        else:
            out[CLIP_PREFIX + name] = _as_sgm(CLIP_PREFIX + name, clip_state[key].detach())
    for name, parts in qkv.items():
        out[CLIP_PREFIX + name] = torch.cat(parts).detach()
    return out


def _configs(image_encoder, unet, vae) -> dict:
    clip_cfg = image_encoder.config.to_dict()
    keep = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size",
            "patch_size", "projection_dim", "hidden_act", "layer_norm_eps")
    return {"unet": {k: v for k, v in dict(unet.config).items() if not k.startswith("_")},
            "vae": {k: v for k, v in dict(vae.config).items() if not k.startswith("_")},
            "image_encoder": {k: clip_cfg[k] for k in keep}}


def save_single_file(unet, vae, image_encoder, path: str | os.PathLike) -> Path:
    """Write diffusers SVD modules as one SGM ``.safetensors`` file, configs in its metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    state = components_to_sgm(unet, vae, image_encoder)
    metadata = {METADATA_KEY: json.dumps(_configs(image_encoder, unet, vae))}
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=metadata)
    return path


def _read(path: Path) -> tuple[dict, dict]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise ValueError(f"SVD checkpoint {str(path)!r} does not exist; put svd_xt.safetensors in "
                         "models/checkpoints or pass its path")
    if path.suffix.lower() not in (".safetensors", ".sft"):
        raise ValueError(f"SVD checkpoint {path.name}: only .safetensors files are read (nothing is unpickled)")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            keys = list(f.keys())
            wanted = [k for k in keys if k.startswith((UNET_PREFIX, VAE_PREFIX, CLIP_PREFIX))]
            state = {k: f.get_tensor(k) for k in wanted}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"SVD checkpoint {path.name}: not a readable .safetensors file ({exc}); "
                         "download it again") from exc
    configs = {}
    if METADATA_KEY in metadata:
        try:
            configs = json.loads(metadata[METADATA_KEY])
        except json.JSONDecodeError as exc:
            raise ValueError(f"SVD checkpoint {path.name}: unreadable {METADATA_KEY} metadata ({exc})") from exc
        if not isinstance(configs, dict):
            raise ValueError(f"SVD checkpoint {path.name}: {METADATA_KEY} metadata is not a JSON object")
    return state, configs


def _split(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def check_single_file(path: str | os.PathLike) -> None:
    """Fast check, reading only the file's header: ``ValueError`` unless it is a readable
    image-to-video SVD checkpoint (the strict tensor check happens in :func:`load_single_file`)."""
    from safetensors import SafetensorError, safe_open

    path = Path(os.fspath(path)).expanduser()
    if not path.is_file() or path.suffix.lower() not in (".safetensors", ".sft"):
        _read(path)  # raises the missing-file / not-safetensors error
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            shapes = {k: _Shape(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"SVD checkpoint {path.name}: not a readable .safetensors file ({exc}); "
                         "download it again") from exc
    check_img2vid(shapes, path.name)


class _Shape:
    """Stands in for a tensor where only ``.shape`` is read."""

    def __init__(self, shape):
        self.shape = tuple(shape)


def check_img2vid(state: dict, name: str) -> None:
    """Raise ``ValueError`` unless ``state`` holds an image-to-video SVD (UNet + VAE + image tower)."""
    unet_key = UNET_PREFIX + "input_blocks.0.0.weight"
    if unet_key not in state:
        raise ValueError(f"{name} has no {UNET_PREFIX}* tensors: it is not a Stable Video Diffusion checkpoint "
                         "(use svd_xt.safetensors from stabilityai/stable-video-diffusion-img2vid-xt)")
    if not any(".time_stack." in k for k in state if k.startswith(UNET_PREFIX)):
        raise ValueError(f"{name} has an image UNet without temporal layers: it is not a Stable Video "
                         "Diffusion checkpoint (use svd_xt.safetensors)")
    in_ch = state[unet_key].shape[1]
    if in_ch != 8:
        raise ValueError(f"{name}: its UNet takes {in_ch} input channels; LeviTor needs an image-to-video SVD "
                         "(8: noisy latents + image latents), such as svd_xt.safetensors")
    for prefix, what in ((VAE_PREFIX, "VAE"), (CLIP_PREFIX, "CLIP image encoder")):
        if not any(k.startswith(prefix) for k in state):
            raise ValueError(f"{name} has no {what} ({prefix}*); use the full svd_xt.safetensors, "
                             "not a UNet-only file")


def _strict_load(module, tensors: dict, name: str, what: str, dtype: torch.dtype):
    problems = state_dict_mismatch(module, tensors)
    if problems:
        raise ValueError(f"{name}: the {what} tensors do not fit an SVD {what}: {problems}")
    module.load_state_dict({k: v.to(dtype) for k, v in tensors.items()}, strict=True, assign=True)
    return module.train(False)


def sgm_to_diffusers(state: dict, configs: dict | None = None, *, name: str = "checkpoint") -> dict:
    """Diffusers state dicts and configs ``{"unet": (config, tensors), "vae": ..., "image_encoder": ...}``."""
    check_img2vid(state, name)
    configs = configs or {}
    unet_sgm, vae_sgm, clip_sgm = _split(state, UNET_PREFIX), _split(state, VAE_PREFIX), _split(state, CLIP_PREFIX)
    unet_cfg = configs.get("unet") or infer_unet_config(unet_sgm, name)
    vae_cfg = configs.get("vae") or infer_vae_config(vae_sgm, name)
    clip_cfg = configs.get("image_encoder") or infer_clip_config(clip_sgm, name)
    return {"unet": unet_cfg, "vae": vae_cfg, "image_encoder": clip_cfg,
            "tensors": (unet_sgm, vae_sgm, clip_sgm)}


def _from_sgm_names(names: dict[str, str], sgm: dict, prefix: str) -> dict:
    out = {}
    for key, sgm_name in names.items():
        if sgm_name in sgm:
            t = sgm[sgm_name]
            if prefix == VAE_PREFIX and ".mid.attn_1." in sgm_name and t.ndim == 4 and sgm_name.endswith("weight"):
                t = t[:, :, 0, 0]
            if prefix == CLIP_PREFIX and sgm_name == "proj":
                t = t.t()
            out[key] = t.contiguous()  # a transposed view would take another (rounding) GEMM path
    return out


def _leftover(names: dict[str, str], sgm: dict, prefix: str, name: str, what: str) -> None:
    extra = sorted(set(sgm) - set(names.values()))
    if extra:
        raise ValueError(f"{name}: {len(extra)} {what} tensors have no place in the SVD {what} "
                         f"(e.g. {', '.join(prefix + k for k in extra[:3])})")


def build_modules(unet_cfg: dict, vae_cfg: dict, clip_cfg: dict):
    """Empty (meta) UNet, VAE and image encoder of the given configs."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection


    try:
        with init_empty_weights():
            unet = UNetSpatioTemporalControlModel.from_config(unet_cfg)
            vae = AutoencoderKLTemporalDecoder.from_config(vae_cfg)
            clip = CLIPVisionModelWithProjection(CLIPVisionConfig(**clip_cfg))
    except (TypeError, ValueError, AssertionError, RuntimeError) as exc:
        raise ValueError(f"the SVD configs do not describe buildable modules ({exc})") from exc
    return unet, vae, clip


def load_single_file(path: str | os.PathLike, plan: PrecisionPlan) -> dict:
    """UNet, VAE, image encoder, feature extractor and scheduler from an SGM SVD file.

    Returns the same dict as :func:`levitor.generation.loading.load_svd_components`. Raises
    ``ValueError`` naming the file when it is unreadable, not an image-to-video SVD, or when any
    tensor is missing, left over or of another shape.
    """
    from diffusers import EulerDiscreteScheduler
    from transformers import CLIPImageProcessor

    path = Path(os.fspath(path)).expanduser()
    state, configs = _read(path)
    parts = sgm_to_diffusers(state, configs, name=path.name)
    unet_sgm, vae_sgm, clip_sgm = parts["tensors"]
    unet, vae, clip = build_modules(parts["unet"], parts["vae"], parts["image_encoder"])
    if vae.config.layers_per_block != 2:
        raise ValueError(f"{path.name}: the VAE has {vae.config.layers_per_block} res blocks per level; "
                         "the SVD layout has 2")

    unet_names, vae_names, clip_names = _unet_names(unet), _vae_names(vae), _clip_names(clip)
    _leftover(unet_names, unet_sgm, UNET_PREFIX, path.name, "UNet")
    _leftover(vae_names, vae_sgm, VAE_PREFIX, path.name, "VAE")
    clip_sgm_names = set(clip_names.values())
    extra = sorted(set(clip_sgm) - clip_sgm_names)
    if extra:
        raise ValueError(f"{path.name}: {len(extra)} image-encoder tensors have no place in the CLIP image "
                         f"encoder (e.g. {', '.join(CLIP_PREFIX + k for k in extra[:3])})")

    vae_tensors = _from_sgm_names(vae_names, vae_sgm, VAE_PREFIX)
    latent2 = 2 * vae.config.latent_channels
    vae_tensors["quant_conv.weight"] = torch.eye(latent2)[:, :, None, None]
    vae_tensors["quant_conv.bias"] = torch.zeros(latent2)
    clip_tensors = {}
    for key, sgm_name in clip_names.items():
        if ".attn.in_proj_" in sgm_name:
            if sgm_name not in clip_sgm:
                continue
            stacked = clip_sgm[sgm_name]
            if stacked.shape[0] % 3:
                raise ValueError(f"{path.name}: {CLIP_PREFIX}{sgm_name} does not stack q, k and v")
            clip_tensors[key] = stacked.chunk(3)["qkv".index(key.split("self_attn.")[1][0])].clone()
        elif sgm_name in clip_sgm:
            clip_tensors[key] = _from_sgm_names({key: sgm_name}, clip_sgm, CLIP_PREFIX)[key]

    unet = _strict_load(unet, _from_sgm_names(unet_names, unet_sgm, UNET_PREFIX), path.name, "UNet",
                        plan.denoiser_dtype)
    vae = _strict_load(vae, vae_tensors, path.name, "VAE", plan.vae_dtype)
    clip = _strict_load(clip, clip_tensors, path.name, "CLIP image encoder", plan.image_encoder_dtype)
    size = clip.config.image_size
    return {
        "unet": unet,
        "vae": vae,
        "image_encoder": clip,
        "feature_extractor": CLIPImageProcessor(crop_size=size, size={"shortest_edge": size}),
        "scheduler": EulerDiscreteScheduler.from_config(SVD_XT_SCHEDULER_CONFIG),
    }


def is_single_file(path: str | os.PathLike) -> bool:
    """True for a path that names a file (an SGM checkpoint) rather than a diffusers folder."""
    return Path(os.fspath(path)).expanduser().is_file()


__all__ = [
    "CLIP_PREFIX", "UNET_PREFIX", "VAE_PREFIX", "components_to_sgm", "check_img2vid", "check_single_file",
    "clip_key_to_sgm",
    "infer_clip_config", "infer_unet_config", "infer_vae_config", "is_single_file", "load_single_file",
    "save_single_file", "sgm_to_diffusers", "unet_key_to_sgm", "vae_key_to_sgm",
]
