"""Reading and validating the generator's ``config.json`` files before any module is built.

Every problem is a ``ValueError`` naming the file and the key: a file that is not a JSON object,
a number that is not a number or lies outside its range, a list of the wrong length, a boolean
written as a string. The ranges are generous (SVD-xt uses a fraction of each) but keep a damaged
or hostile config from asking for terabytes or from reaching a constructor that fails obscurely.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from .models.controlnet_svd import ControlNetSVDModel
from .models.unet_svd import UNetSpatioTemporalControlModel

# SVD-xt's scheduler/scheduler_config.json (EulerDiscreteScheduler).
SVD_XT_SCHEDULER_CONFIG = {
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "set_alpha_to_one": False,
    "sigma_max": 700.0,
    "sigma_min": 0.002,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "trained_betas": None,
    "use_karras_sigmas": True,
}

#: Upper bounds of the architecture numbers (SVD-xt: 1280 channels, 20 heads, 25 frames).
MAX_CHANNELS = 8192
MAX_LAYERS = 16
MAX_HEADS = 1024
MAX_FRAMES = 1024
MAX_BLOCKS = 8
MAX_INPUT_CHANNELS = 64
MAX_SAMPLE_SIZE = 4096
MAX_CONFIG_BYTES = 1 << 20
MAX_ENCODER_LAYERS = 256  # transformer layers of the CLIP image encoder (ViT-H: 32)
#: diffusers' SVD blocks normalise with 32 groups: channel counts must be multiples of 32.
NORM_GROUPS = 32

DOWN_BLOCK_TYPES = ("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal")
UP_BLOCK_TYPES = ("CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal")


def _defaults(cls) -> dict:
    """Constructor defaults: what ``from_config`` uses for a key the file leaves out."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


UNET_DEFAULTS = _defaults(UNetSpatioTemporalControlModel)
CONTROLNET_DEFAULTS = _defaults(ControlNetSVDModel)


def read_json_config(path: str | os.PathLike, what: str = "config") -> dict:
    """The JSON object in ``path``; ValueError naming the file when it is missing, unreadable,
    too large, not JSON or not an object."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ValueError(f"{size} bytes is more than a config file holds ({MAX_CONFIG_BYTES})")
        text = path.read_text(encoding="utf-8")
        config = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"cannot read the {what} {str(path)!r}: {exc}; download it again") from exc
    if not isinstance(config, dict):
        raise ValueError(f"the {what} {str(path)!r} holds a JSON {type(config).__name__}, not an object "
                         "of settings; download it again")
    return config


class _Checker:
    def __init__(self, config: dict, source: str):
        self.config, self.source = config, source

    def fail(self, key: str, message: str) -> ValueError:
        return ValueError(f"{self.source}: {key!r} {message}")

    def int(self, key: str, low: int, high: int, *, default: Any = None, optional: bool = False) -> int | None:
        value = self.config.get(key, default)
        if value is None and optional:
            return None
        return self.int_value(key, value, low, high)

    def int_value(self, key: str, value: Any, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"must lie in [{low}, {high}], got {value}")
        return value

    def bool(self, key: str, default: bool) -> bool:
        value = self.config.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false (a JSON boolean), got {value!r}")
        return value

    def names(self, key: str, allowed: tuple[str, ...], default: Any) -> list[str]:
        value = self.config.get(key, default)
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_BLOCKS:
            raise self.fail(key, f"must be a list of 1 to {MAX_BLOCKS} block names, got {value!r}")
        for item in value:
            if item not in allowed:
                raise self.fail(key, f"holds {item!r}; allowed: {', '.join(allowed)}")
        return list(value)

    def ints(self, key: str, low: int, high: int, default: Any, *, length: int | None = None,
             per_block: bool = False) -> list[int]:
        """A list of ints (or, with ``per_block``, one int meaning the same for every block)."""
        value = self.config.get(key, default)
        if per_block and not isinstance(value, (list, tuple)):
            return [self.int_value(key, value, low, high)] * (length or 1)
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_BLOCKS:
            raise self.fail(key, f"must be a list of 1 to {MAX_BLOCKS} whole numbers, got {value!r}")
        if length is not None and len(value) != length:
            raise self.fail(key, f"must have {length} entries (one per down block), got {len(value)}")
        return [self.int_value(key, v, low, high) for v in value]


def _check_encoder(c: _Checker, defaults: dict) -> list[int]:
    """The keys the SVD UNet and the ControlNet share; returns ``block_out_channels``."""
    d = defaults
    c.int("sample_size", 1, MAX_SAMPLE_SIZE, default=d.get("sample_size"), optional=True)
    c.int("in_channels", 1, MAX_INPUT_CHANNELS, default=d["in_channels"])
    c.int("out_channels", 1, MAX_INPUT_CHANNELS, default=d["out_channels"])
    down = c.names("down_block_types", DOWN_BLOCK_TYPES, d["down_block_types"])
    n = len(down)
    up = c.names("up_block_types", UP_BLOCK_TYPES, d["up_block_types"])
    if len(up) != n:
        raise c.fail("up_block_types", f"must have {n} entries like down_block_types, got {len(up)}")
    channels = c.ints("block_out_channels", NORM_GROUPS, MAX_CHANNELS, d["block_out_channels"], length=n)
    for ch in channels:
        if ch % NORM_GROUPS:
            raise c.fail("block_out_channels", f"entries must be multiples of {NORM_GROUPS}, got {ch}")
    time_dim = c.int("addition_time_embed_dim", 1, MAX_CHANNELS, default=d["addition_time_embed_dim"])
    projection = c.int("projection_class_embeddings_input_dim", 1, 3 * MAX_CHANNELS,
                       default=d["projection_class_embeddings_input_dim"])
    if projection != 3 * time_dim:
        raise c.fail("projection_class_embeddings_input_dim",
                     f"must be 3 x addition_time_embed_dim = {3 * time_dim} (three time ids), got {projection}")
    c.ints("layers_per_block", 1, MAX_LAYERS, d["layers_per_block"], length=n, per_block=True)
    c.ints("cross_attention_dim", 1, MAX_CHANNELS, d["cross_attention_dim"], length=n, per_block=True)
    c.ints("transformer_layers_per_block", 1, MAX_LAYERS, d["transformer_layers_per_block"], length=n,
           per_block=True)
    heads = c.ints("num_attention_heads", 1, MAX_HEADS, d["num_attention_heads"], length=n, per_block=True)
    for ch, h in zip(channels, heads):
        if ch % h:
            raise c.fail("num_attention_heads", f"{h} heads do not divide {ch} channels")
    c.int("num_frames", 1, MAX_FRAMES, default=d["num_frames"])
    return channels


def validate_unet_config(config: Any, source: str) -> dict:
    """Check an SVD UNet ``config.json`` (``source`` names it in errors); returns it unchanged."""
    if not isinstance(config, dict):
        raise ValueError(f"{source}: the UNet config must be a JSON object, got {type(config).__name__}")
    _check_encoder(_Checker(config, source), UNET_DEFAULTS)
    return config


def validate_controlnet_config(config: Any, source: str) -> dict:
    """Check a LeviTor ControlNet ``config.json``; returns it unchanged."""
    if not isinstance(config, dict):
        raise ValueError(f"{source}: the ControlNet config must be a JSON object, got {type(config).__name__}")
    c = _Checker(config, source)
    d = CONTROLNET_DEFAULTS
    _check_encoder(c, d)
    c.int("conditioning_channels", 1, MAX_INPUT_CHANNELS, default=d["conditioning_channels"])
    c.ints("conditioning_embedding_out_channels", 1, MAX_CHANNELS, d["conditioning_embedding_out_channels"])
    if c.bool("with_id_feature", d["with_id_feature"]):
        raise c.fail("with_id_feature", "is true (the point-feature adapter variant), which is not supported; "
                     "the released LeviTor ControlNet has with_id_feature=false")
    c.int("feature_channels", 1, MAX_CHANNELS, default=d["feature_channels"])
    c.ints("feature_out_channels", 1, MAX_CHANNELS, d["feature_out_channels"])
    return config


# Keys of a size in an image processor config (transformers' ``size`` / ``crop_size`` dicts).
_SIZE_KEYS = ("shortest_edge", "longest_edge", "height", "width")


def _check_size(c: _Checker, key: str) -> None:
    """``size`` / ``crop_size``: a whole number, ``[height, width]``, or a dict of ``_SIZE_KEYS``
    with ``shortest_edge`` or both ``height`` and ``width``."""
    if key not in c.config:
        return
    value = c.config[key]
    if isinstance(value, dict):
        unknown = [k for k in value if k not in _SIZE_KEYS]
        if unknown or not value:
            raise c.fail(key, f"must be a size: a whole number, [height, width], or an object with "
                              f"shortest_edge or height and width, got {value!r}")
        for k, v in value.items():
            c.int_value(f"{key}.{k}", v, 1, MAX_SAMPLE_SIZE)
        if ("height" in value) != ("width" in value) or not ("shortest_edge" in value or "height" in value):
            raise c.fail(key, f"needs 'shortest_edge' or both 'height' and 'width', got {value!r}")
    elif isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise c.fail(key, f"as a list must be [height, width], got {value!r}")
        for v in value:
            c.int_value(key, v, 1, MAX_SAMPLE_SIZE)
    else:
        c.int_value(key, value, 1, MAX_SAMPLE_SIZE)


def _check_number(c: _Checker, key: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise c.fail(key, f"must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise c.fail(key, f"must be positive, got {value!r}")
    return float(value)


def validate_feature_extractor_config(config: Any, source: str) -> dict:
    """Check a CLIP ``preprocessor_config.json`` (sizes, mean and std, rescale factor, flags)
    before transformers reads it; returns it unchanged."""
    if not isinstance(config, dict):
        raise ValueError(f"{source}: the feature extractor config must be a JSON object, got {type(config).__name__}")
    c = _Checker(config, source)
    _check_size(c, "size")
    _check_size(c, "crop_size")
    for key in ("image_mean", "image_std"):
        if key not in config:
            continue
        value = config[key]
        values = value if isinstance(value, (list, tuple)) else [value]
        if not 1 <= len(values) <= 4:
            raise c.fail(key, f"must be one number or one per channel (3), got {value!r}")
        for v in values:
            _check_number(c, key, v, positive=key == "image_std")
    if "rescale_factor" in config:
        _check_number(c, "rescale_factor", config["rescale_factor"], positive=True)
    if "resample" in config:
        c.int("resample", 0, 5)
    for key in [k for k in config if k.startswith("do_")]:
        c.bool(key, False)
    return config


def validate_image_encoder_config(config: Any, source: str) -> dict:
    """Check a CLIP vision ``config.json`` (the numbers that size the model) before transformers
    reads it; returns it unchanged."""
    if not isinstance(config, dict):
        raise ValueError(f"{source}: the image encoder config must be a JSON object, got {type(config).__name__}")
    c = _Checker(config, source)
    present = lambda key: key in config  # noqa: E731 - transformers has defaults for the keys left out
    hidden = c.int("hidden_size", 1, MAX_CHANNELS) if present("hidden_size") else None
    heads = c.int("num_attention_heads", 1, MAX_HEADS) if present("num_attention_heads") else None
    if hidden is not None and heads is not None and hidden % heads:
        raise c.fail("num_attention_heads", f"{heads} heads do not divide hidden_size {hidden}")
    for key, high in (("projection_dim", MAX_CHANNELS), ("intermediate_size", 4 * MAX_CHANNELS),
                      ("num_hidden_layers", MAX_ENCODER_LAYERS), ("num_channels", MAX_INPUT_CHANNELS),
                      ("image_size", MAX_SAMPLE_SIZE)):
        if present(key):
            c.int(key, 1, high)
    if present("patch_size"):
        image_size = config.get("image_size")
        c.int("patch_size", 1, image_size if isinstance(image_size, int) else MAX_SAMPLE_SIZE)
    if present("layer_norm_eps"):
        _check_number(c, "layer_norm_eps", config["layer_norm_eps"], positive=True)
    return config
# --------------------------------------------------------------------------- configs from tensor shapes
#: What the shapes do not tell, as in SVD-xt. Attention heads have ``min(64, first block width)``
#: channels (64 in SVD-xt; narrower test models get narrower heads).
UNET_HEAD_CHANNELS = 64
SVD_XT_CLIP_HEADS = {1280: 16}
SVD_XT_UNET_EXTRAS = {"sample_size": 96, "num_frames": 25}


def count_groups(state: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in state if (m := rx.match(k))})


def tensor_shape(state: dict, key: str, path: str) -> tuple[int, ...]:
    if key not in state:
        raise ValueError(f"{path}: tensor {key!r} is missing; the file is not a complete SVD checkpoint")
    return tuple(state[key].shape)


def attention_heads(channels: list[int]) -> list[int]:
    """Heads per level for block widths ``channels`` (see :data:`UNET_HEAD_CHANNELS`)."""
    head = min(UNET_HEAD_CHANNELS, channels[0])
    return [max(1, c // head) for c in channels]


def infer_controlnet_config(state: dict, name: str = "ControlNet") -> dict:
    """``ControlNetSVDModel`` config from its diffusers-layout tensors (the released file has no config)."""
    levels = count_groups(state, r"down_blocks\.(\d+)\.")
    if not levels or "controlnet_cond_embedding.conv_in.weight" not in state:
        raise ValueError(f"{name} is not a LeviTor ControlNet: no down_blocks.* or controlnet_cond_embedding.* "
                         "tensors (use the released controlnet/diffusion_pytorch_model.safetensors)")
    channels = [tensor_shape(state, f"down_blocks.{i}.resnets.0.spatial_res_block.conv1.weight", name)[0]
                for i in range(levels)]
    down_types = ["CrossAttnDownBlockSpatioTemporal" if f"down_blocks.{i}.attentions.0.proj_in.weight" in state
                  else "DownBlockSpatioTemporal" for i in range(levels)]
    attn_level = next((i for i, t in enumerate(down_types) if t.startswith("CrossAttn")), None)
    if attn_level is None:
        raise ValueError(f"{name}: the ControlNet has no attention blocks; not a LeviTor ControlNet")
    attn = f"down_blocks.{attn_level}.attentions.0"
    adm = tensor_shape(state, "add_embedding.linear_1.weight", name)[1]
    embed = [tensor_shape(state, "controlnet_cond_embedding.conv_in.weight", name)[0]]
    embed += [tensor_shape(state, f"controlnet_cond_embedding.blocks.{2 * k + 1}.weight", name)[0]
              for k in range(count_groups(state, r"controlnet_cond_embedding\.blocks\.(\d+)\.") // 2)]
    return dict(
        sample_size=SVD_XT_UNET_EXTRAS["sample_size"], num_frames=SVD_XT_UNET_EXTRAS["num_frames"],
        in_channels=tensor_shape(state, "conv_in.weight", name)[1],
        down_block_types=down_types,
        block_out_channels=channels,
        addition_time_embed_dim=adm // 3,
        projection_class_embeddings_input_dim=adm,
        layers_per_block=count_groups(state, r"down_blocks\.0\.resnets\.(\d+)\."),
        cross_attention_dim=tensor_shape(state, f"{attn}.transformer_blocks.0.attn2.to_k.weight", name)[1],
        transformer_layers_per_block=count_groups(state, re.escape(attn) + r"\.transformer_blocks\.(\d+)\."),
        num_attention_heads=attention_heads(channels),
        conditioning_channels=tensor_shape(state, "controlnet_cond_embedding.conv_in.weight", name)[1],
        conditioning_embedding_out_channels=embed,
    )
