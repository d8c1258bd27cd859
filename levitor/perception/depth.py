"""Depth-Anything-V2 relative depth through transformers, with the reference's preprocessing.

The reference runs the original Depth-Anything-V2 ViT-L at ``input_size=512``: the image is
resized keeping its aspect ratio so both sides are at least ``input_size``, rounded to multiples
of 14 (bicubic; 288×512 runs at 518×910), normalised with ImageNet statistics and — because that
code expects BGR input but is given RGB — with red and blue swapped. The output (relative
disparity, larger = nearer) is resized back bilinearly with ``align_corners=True``.

Models load from a transformers folder (``depth-anything/Depth-Anything-V2-*-hf``) or from the
original single-file checkpoints ``depth_anything_v2_vit{s,b,l}.pth`` / ``.safetensors``, whose
keys are mapped to the transformers layout here. Files are read as tensors only.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..io.weights import block_count, read_state_dict, required_tensors

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Encoder layers the DPT head reads (0-based), by encoder depth, as in Depth-Anything-V2.
_HEAD_LAYERS = {12: (2, 5, 8, 11), 24: (4, 11, 17, 23), 40: (9, 19, 29, 39)}


def head_layers(depth: int) -> tuple[int, ...]:
    """The four encoder layers (0-based) the head reads for an encoder of ``depth`` layers."""
    if depth in _HEAD_LAYERS:
        return _HEAD_LAYERS[depth]
    if depth < 4:
        raise ValueError(f"a Depth-Anything encoder needs at least 4 layers, got {depth}")
    return tuple(int(round(depth * (k + 1) / 4)) - 1 for k in range(4))


def input_resolution(height: int, width: int, input_size: int = 512, multiple: int = 14) -> tuple[int, int]:
    """The ``(height, width)`` the network sees: both sides at least ``input_size`` ("lower bound"),
    aspect kept, each rounded to the nearest multiple of 14 (rounded up where that falls below)."""
    if input_size < 1:
        raise ValueError(f"input_size must be positive, got {input_size}")
    scale = max(input_size / height, input_size / width)

    def fit(x: float) -> int:
        y = int(round(x / multiple) * multiple)
        if y < input_size:
            y = int(math.ceil(x / multiple) * multiple)
        return max(y, multiple)

    return fit(scale * height), fit(scale * width)


# --------------------------------------------------------------------------------------------
# original checkpoint naming → transformers naming


def _attention_layout(target_keys) -> str:
    """``"split"`` (``attention.q_proj``) or ``"nested"`` (``attention.attention.query``)."""
    if any(".attention.q_proj." in k for k in target_keys):
        return "split"
    return "nested"


def _qkv_names(layout: str, prefix: str) -> tuple[str, str, str, str]:
    if layout == "split":
        return (f"{prefix}.attention.q_proj", f"{prefix}.attention.k_proj", f"{prefix}.attention.v_proj",
                f"{prefix}.attention.o_proj")
    return (f"{prefix}.attention.attention.query", f"{prefix}.attention.attention.key",
            f"{prefix}.attention.attention.value", f"{prefix}.attention.output.dense")


_SIMPLE = [
    (r"^pretrained\.cls_token$", "backbone.embeddings.cls_token"),
    (r"^pretrained\.mask_token$", "backbone.embeddings.mask_token"),
    (r"^pretrained\.pos_embed$", "backbone.embeddings.position_embeddings"),
    (r"^pretrained\.patch_embed\.proj\.(weight|bias)$", r"backbone.embeddings.patch_embeddings.projection.\1"),
    (r"^pretrained\.norm\.(weight|bias)$", r"backbone.layernorm.\1"),
    (r"^pretrained\.blocks\.(\d+)\.norm([12])\.(weight|bias)$", r"backbone.encoder.layer.\1.norm\2.\3"),
    (r"^pretrained\.blocks\.(\d+)\.ls([12])\.gamma$", r"backbone.encoder.layer.\1.layer_scale\2.lambda1"),
    (r"^pretrained\.blocks\.(\d+)\.mlp\.(fc[12])\.(weight|bias)$", r"backbone.encoder.layer.\1.mlp.\2.\3"),
    (r"^depth_head\.projects\.(\d)\.(weight|bias)$", r"neck.reassemble_stage.layers.\1.projection.\2"),
    (r"^depth_head\.resize_layers\.(\d)\.(weight|bias)$", r"neck.reassemble_stage.layers.\1.resize.\2"),
    (r"^depth_head\.scratch\.output_conv1\.(weight|bias)$", r"head.conv1.\1"),
    (r"^depth_head\.scratch\.output_conv2\.0\.(weight|bias)$", r"head.conv2.\1"),
    (r"^depth_head\.scratch\.output_conv2\.2\.(weight|bias)$", r"head.conv3.\1"),
]


def _map_key(key: str) -> str | None:
    for pattern, repl in _SIMPLE:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    m = re.match(r"^depth_head\.scratch\.layer([1-4])_rn\.weight$", key)
    if m:
        return f"neck.convs.{int(m.group(1)) - 1}.weight"
    m = re.match(r"^depth_head\.scratch\.refinenet([1-4])\.(.+)$", key)
    if m:
        stage = 4 - int(m.group(1))  # the transformers fusion stage runs from the deepest level up
        rest = m.group(2)
        r = re.match(r"^out_conv\.(weight|bias)$", rest)
        if r:
            return f"neck.fusion_stage.layers.{stage}.projection.{r.group(1)}"
        r = re.match(r"^resConfUnit([12])\.conv([12])\.(weight|bias)$", rest)
        if r:
            return (f"neck.fusion_stage.layers.{stage}.residual_layer{r.group(1)}."
                    f"convolution{r.group(2)}.{r.group(3)}")
    return None


def convert_original_state_dict(state: dict, target_keys) -> dict:
    """Rename an original Depth-Anything-V2 state dict to the transformers layout of ``target_keys``.

    The fused ``attn.qkv`` projection is split in three. Raises ``ValueError`` listing any key it
    does not know.
    """
    layout = _attention_layout(target_keys)
    out: dict = {}
    unknown = []
    for key, value in state.items():
        m = re.match(r"^pretrained\.blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)$", key)
        if m:
            q, k, v, o = _qkv_names(layout, f"backbone.encoder.layer.{m.group(1)}")
            kind = m.group(3)
            if m.group(2) == "proj":
                out[f"{o}.{kind}"] = value
            else:
                dim = value.shape[0] // 3
                out[f"{q}.{kind}"], out[f"{k}.{kind}"], out[f"{v}.{kind}"] = (
                    value[:dim], value[dim:2 * dim], value[2 * dim:])
            continue
        new = _map_key(key)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise ValueError(f"not a Depth-Anything-V2 checkpoint: unknown keys {unknown[:5]}")
    return out


def config_from_original_state_dict(state: dict):
    """A transformers ``DepthAnythingConfig`` matching an original Depth-Anything-V2 state dict."""
    from transformers import DepthAnythingConfig, Dinov2Config

    cls_token, patch, pos = required_tensors(
        state, ("pretrained.cls_token", "pretrained.patch_embed.proj.weight", "pretrained.pos_embed"),
        what="Depth-Anything-V2",
    )
    dim = int(cls_token.shape[-1])
    depth = block_count(state, "pretrained.blocks.")
    patch_size = int(patch.shape[-1])
    grid = int(round(math.sqrt(int(pos.shape[1]) - 1)))
    mlp = int(state["pretrained.blocks.0.mlp.fc1.weight"].shape[0])
    heads = max(1, dim // 64)
    if mlp % dim:
        raise ValueError(f"not a Depth-Anything-V2 checkpoint: MLP width {mlp} is not a multiple of {dim}")
    layers = head_layers(depth)
    backbone = Dinov2Config(
        hidden_size=dim, num_hidden_layers=depth, num_attention_heads=heads, mlp_ratio=mlp // dim,
        image_size=grid * patch_size, patch_size=patch_size, layerscale_value=1.0,
        out_indices=[i + 1 for i in layers], reshape_hidden_states=False, apply_layernorm=True)
    neck = [int(state[f"depth_head.projects.{i}.weight"].shape[0]) for i in range(4)]
    fusion = int(state["depth_head.scratch.layer1_rn.weight"].shape[0])
    head_hidden = int(state["depth_head.scratch.output_conv2.0.weight"].shape[0])
    return DepthAnythingConfig(backbone_config=backbone, patch_size=patch_size, reassemble_hidden_size=dim,
                               neck_hidden_sizes=neck, fusion_hidden_size=fusion, head_hidden_size=head_hidden,
                               depth_estimation_type="relative")


def load_depth_model(path: str | Path):
    """A ``DepthAnythingForDepthEstimation`` from a transformers folder or an original single file."""
    from transformers import DepthAnythingForDepthEstimation

    path = Path(path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{path} has no config.json; give a transformers Depth-Anything-V2 folder")
        if not any(path.glob("*.safetensors")):
            raise ValueError(f"{path} has no .safetensors weights (pickled files such as pytorch_model.bin are not "
                             "loaded); download model.safetensors of the model into it")
        try:
            model = DepthAnythingForDepthEstimation.from_pretrained(str(path), use_safetensors=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ValueError(f"cannot load the Depth-Anything folder {path}: {exc}") from exc
        return model.train(False)
    if not path.is_file():
        raise ValueError(f"depth model {str(path)!r} does not exist")
    state = read_state_dict(path, what="Depth-Anything checkpoint")
    if any(k.startswith("backbone.") for k in state):  # already in the transformers layout
        raise ValueError(f"{path.name} uses transformers key names: put it in a folder with its config.json")
    config = config_from_original_state_dict(state)
    model = DepthAnythingForDepthEstimation(config)
    converted = convert_original_state_dict(state, model.state_dict().keys())
    missing, unexpected = model.load_state_dict(converted, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path.name} does not fit Depth-Anything-V2: missing {list(missing)[:5]}, "
                         f"unexpected {list(unexpected)[:5]}")
    return model.train(False)


class DepthEstimator:
    """Relative disparity (larger = nearer) for an RGB image with Depth-Anything-V2."""

    def __init__(self, model, *, device: Any = None, dtype: Any = None):
        import torch

        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype or torch.float32
        self.model = model.to(self.device, self.dtype).train(False)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: Any = None, dtype: Any = None) -> DepthEstimator:
        """Load from a transformers folder or a ``depth_anything_v2_vit*.pth`` / ``.safetensors`` file."""
        return cls(load_depth_model(path), device=device, dtype=dtype)

    def preprocess(self, image: np.ndarray, input_size: int = 512, swap_rb: bool = True):
        """The network input ``(1, 3, h, w)``: optional R/B swap, bicubic resize, ImageNet normalisation."""
        import torch
        import torch.nn.functional as F

        img = np.asarray(image)
        if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
        if swap_rb:
            img = img[..., ::-1]
        x = img.astype(np.float32) / 255.0
        h, w = input_resolution(img.shape[0], img.shape[1], input_size)
        try:
            import cv2

            x = cv2.resize(x, (w, h), interpolation=cv2.INTER_CUBIC)
            t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]
        except ImportError:  # without OpenCV: torch's bicubic (a slightly different kernel)
            t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]
            t = F.interpolate(t, size=(h, w), mode="bicubic", align_corners=False)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return ((t - mean) / std).to(self.device, self.dtype)

    def __call__(self, image: np.ndarray, *, input_size: int = 512, swap_rb: bool = True) -> np.ndarray:
        """``(H, W)`` float32 relative disparity for an ``(H, W, 3)`` uint8 RGB image."""
        import torch
        import torch.nn.functional as F

        x = self.preprocess(image, input_size, swap_rb)
        with torch.inference_mode():
            pred = self.model(pixel_values=x).predicted_depth  # (1, h, w)
            pred = F.interpolate(pred[:, None].float(), size=tuple(np.asarray(image).shape[:2]), mode="bilinear",
                                 align_corners=True)
        return pred[0, 0].cpu().numpy().astype(np.float32)
