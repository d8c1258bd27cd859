"""Loading SVD-xt and the LeviTor ControlNet from disk: folders, single files, dtypes, devices.

Weights are read from safetensors only; nothing is unpickled. Every failure names the path and
what to do about it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16", "fp16-autocast")
OFFLOAD_MODES = (None, "none", "model", "sequential")
SVD_SUBFOLDERS = ("unet", "vae", "image_encoder", "feature_extractor", "scheduler")
CONTROLNET_CLASS = "ControlNetSVDModel"
CONTROLNET_WEIGHTS = "diffusion_pytorch_model.safetensors"
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


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


def default_device() -> torch.device:
    """The accelerator torch reports (CUDA, MPS, XPU, ...), else the CPU."""
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None:
        return accelerator.current_accelerator() if accelerator.is_available() else torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device(torch.cuda.current_device())
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_precision(precision: str = "auto", device: str | torch.device | None = None,
                      torch_dtype: torch.dtype | None = None) -> PrecisionPlan:
    """Turn a precision name (and an optional explicit ``torch_dtype``) into a :class:`PrecisionPlan`.

    ``"auto"``: ``fp16-autocast`` on CUDA, ``fp16`` on MPS, ``fp32`` on CPU. An explicit
    ``torch_dtype`` with ``precision="auto"`` holds every component in that dtype.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}.")
    device = torch.device(device) if device is not None else default_device()
    if precision == "auto":
        if torch_dtype is not None:
            return PrecisionPlan(str(torch_dtype).replace("torch.", ""), torch_dtype, torch_dtype, torch_dtype)
        precision = {"cuda": "fp16-autocast", "mps": "fp16"}.get(device.type, "fp32")
    if precision == "fp16-autocast":
        half = torch.float16
        return PrecisionPlan(precision, torch.float32, half, half, autocast_dtype=half)
    dtype = _DTYPES[precision]
    return PrecisionPlan(precision, dtype, dtype, dtype)


def _has_file(folder: Path, names: tuple[str, ...]) -> bool:
    return any((folder / n).is_file() for n in names)


def resolve_svd_folder(svd_path: str | os.PathLike) -> Path:
    """Return the local SVD folder; a Hugging Face repo id is downloaded (weights as safetensors)."""
    path = Path(os.fspath(svd_path)).expanduser()
    if not path.exists():
        text = os.fspath(svd_path)
        if text.count("/") == 1 and not text.startswith((".", "/", "~")):
            try:
                from huggingface_hub import snapshot_download

                path = Path(
                    snapshot_download(
                        text,
                        allow_patterns=["*.json", "*.txt", "*.fp16.safetensors", "*/model_index.json"],
                    )
                )
            except Exception as exc:  # network / auth / missing repo
                raise ValueError(
                    f"svd_path {text!r} is not a local folder and could not be downloaded from the "
                    f"Hugging Face hub ({exc}). Download stabilityai/stable-video-diffusion-img2vid-xt "
                    "and pass the folder path."
                ) from exc
        else:
            raise ValueError(
                f"SVD folder {text!r} does not exist. Pass the path of a diffusers "
                "stable-video-diffusion-img2vid-xt folder (the one holding model_index.json)."
            )
    if not path.is_dir():
        raise ValueError(
            f"svd_path {str(path)!r} is a file; pass the SVD-xt folder that holds model_index.json "
            "and the unet/, vae/, image_encoder/, feature_extractor/, scheduler/ subfolders."
        )
    missing = [s for s in SVD_SUBFOLDERS if not (path / s).is_dir()]
    if missing:
        raise ValueError(
            f"{str(path)!r} is not a Stable Video Diffusion folder: missing subfolder(s) "
            f"{', '.join(missing)}. Pass the folder of stabilityai/stable-video-diffusion-img2vid-xt."
        )
    return path


def _weights_variant(folder: Path, base: str) -> str | None:
    """``"fp16"`` when only/also the fp16 variant is present (as in SVD-xt), else None."""
    stem, ext = base.rsplit(".", 1)
    if (folder / f"{stem}.fp16.{ext}").is_file():
        return "fp16"
    if (folder / base).is_file():
        return None
    raise ValueError(
        f"No safetensors weights in {str(folder)!r} (expected {base} or {stem}.fp16.{ext}). "
        "Download the .safetensors files of the model; pickled .bin checkpoints are not loaded."
    )


def _transformers_dtype_kwarg() -> str:
    """transformers >= 4.56 calls the dtype argument ``dtype``; older versions ``torch_dtype``."""
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def load_svd_components(svd_path: str | os.PathLike, plan: PrecisionPlan, *, variant: str | None = "auto") -> dict:
    """Load UNet, VAE, CLIP image encoder, feature extractor and scheduler from an SVD folder.

    ``variant="auto"`` uses the ``.fp16`` weight files when they exist (SVD-xt ships both).
    Raises ``ValueError`` when the UNet is not an image-to-video UNet (``in_channels`` != 8).
    """
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    from .models import UNetSpatioTemporalControlModel

    folder = resolve_svd_folder(svd_path)
    unet_config = json.loads((folder / "unet" / "config.json").read_text()) if (folder / "unet" / "config.json").is_file() else None
    if unet_config is None:
        raise ValueError(f"{str(folder / 'unet')!r} has no config.json; the SVD folder is incomplete.")
    if unet_config.get("in_channels") != 8:
        raise ValueError(
            f"The UNet in {str(folder)!r} has in_channels={unet_config.get('in_channels')}; LeviTor needs "
            "an image-to-video SVD UNet (in_channels 8), e.g. stable-video-diffusion-img2vid-xt."
        )

    def pick(sub: str, base: str) -> str | None:
        return _weights_variant(folder / sub, base) if variant == "auto" else variant

    common = dict(use_safetensors=True, low_cpu_mem_usage=True)
    unet = UNetSpatioTemporalControlModel.from_pretrained(
        folder, subfolder="unet", variant=pick("unet", CONTROLNET_WEIGHTS), torch_dtype=plan.denoiser_dtype, **common
    )
    vae = AutoencoderKLTemporalDecoder.from_pretrained(
        folder, subfolder="vae", variant=pick("vae", CONTROLNET_WEIGHTS), torch_dtype=plan.vae_dtype, **common
    )
    enc_variant = pick("image_encoder", "model.safetensors")
    image_encoder = CLIPVisionModelWithProjection.from_pretrained(
        folder / "image_encoder", variant=enc_variant, use_safetensors=True,
        **{_transformers_dtype_kwarg(): plan.image_encoder_dtype},
    )
    feature_extractor = CLIPImageProcessor.from_pretrained(folder / "feature_extractor")
    scheduler = EulerDiscreteScheduler.from_pretrained(folder, subfolder="scheduler")
    return {
        "unet": unet.train(False),
        "vae": vae.train(False),
        "image_encoder": image_encoder.train(False),
        "feature_extractor": feature_extractor,
        "scheduler": scheduler,
    }


def controlnet_config_from_unet(unet_config: Any) -> dict:
    """ControlNet constructor arguments matching an SVD UNet config (what ``from_unet`` builds)."""
    keys = (
        "sample_size", "in_channels", "out_channels", "down_block_types", "up_block_types",
        "block_out_channels", "addition_time_embed_dim", "projection_class_embeddings_input_dim",
        "layers_per_block", "cross_attention_dim", "transformer_layers_per_block", "num_attention_heads",
        "num_frames",
    )
    get = unet_config.get if isinstance(unet_config, dict) else lambda k: getattr(unet_config, k)
    return {k: get(k) for k in keys}


def _read_controlnet_config(path: Path) -> dict:
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"Cannot read the ControlNet config {str(path)!r}: {exc}") from exc
    name = config.get("_class_name", CONTROLNET_CLASS)
    if name != CONTROLNET_CLASS:
        raise ValueError(
            f"{str(path)!r} describes a {name}, not a LeviTor {CONTROLNET_CLASS}; pass the controlnet/ "
            "folder of hlwang06/LeviTor."
        )
    if config.get("with_id_feature", False):
        raise ValueError(
            f"{str(path)!r} has with_id_feature=true (point-feature adapter variant), which is not "
            "supported; the released LeviTor ControlNet has with_id_feature=false."
        )
    return config


def load_controlnet(
    controlnet: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    unet_config: Any = None,
):
    """Load a :class:`~levitor.generation.models.ControlNetSVDModel` from a folder or a single ``.safetensors`` file.

    * Folder: ``config.json`` (``_class_name`` ControlNetSVDModel, ``with_id_feature`` false) and
      ``diffusion_pytorch_model.safetensors`` (or its ``.fp16`` variant).
    * File: the config comes from a ``config.json`` of class ControlNetSVDModel next to the file,
      else it is derived from ``unet_config`` (the SVD-xt UNet gives the released architecture),
      else the SVD-xt defaults.

    The state dict must match exactly (no missing or unexpected keys, same shapes).
    """
    from accelerate import init_empty_weights
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .models import ControlNetSVDModel

    path = Path(os.fspath(controlnet)).expanduser()
    if not path.exists():
        raise ValueError(
            f"ControlNet path {str(path)!r} does not exist. Pass the controlnet/ folder of "
            "hlwang06/LeviTor (config.json + diffusion_pytorch_model.safetensors) or a .safetensors file."
        )
    if path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            raise ValueError(f"ControlNet folder {str(path)!r} has no config.json; download the whole controlnet/ folder.")
        config = _read_controlnet_config(config_path)
        weights = path / CONTROLNET_WEIGHTS
        if not weights.is_file():
            weights = path / CONTROLNET_WEIGHTS.replace(".safetensors", ".fp16.safetensors")
        if not weights.is_file():
            raise ValueError(
                f"ControlNet folder {str(path)!r} has no {CONTROLNET_WEIGHTS}; download it (pickled .bin "
                "files are not loaded)."
            )
    else:
        if path.suffix != ".safetensors":
            raise ValueError(f"ControlNet file {str(path)!r} is not a .safetensors file; convert or download the safetensors weights.")
        weights = path
        sidecar = path.parent / "config.json"
        config = None
        if sidecar.is_file():
            try:
                candidate = json.loads(sidecar.read_text())
            except (OSError, json.JSONDecodeError):
                candidate = {}
            if candidate.get("_class_name") == CONTROLNET_CLASS:
                config = _read_controlnet_config(sidecar)
        if config is None:
            config = controlnet_config_from_unet(unet_config) if unet_config is not None else {}

    try:
        state_dict = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"Cannot read ControlNet weights {str(weights)!r}: {exc}") from exc

    with init_empty_weights():
        model = ControlNetSVDModel.from_config(config)
    problems = state_dict_mismatch(model, state_dict)
    if problems:
        raise ValueError(
            f"ControlNet weights {str(weights)!r} do not match its config: {problems}. Use the "
            "config.json that came with the weights (SVD-xt architecture for the released model)."
        )
    model.load_state_dict({k: v.to(dtype) for k, v in state_dict.items()}, strict=True, assign=True)
    if unet_config is not None:
        check_controlnet_matches_unet(model.config, unet_config)
    return model.train(False)


def state_dict_mismatch(model: torch.nn.Module, state_dict: dict) -> str:
    """What keeps ``state_dict`` from loading strictly into ``model`` (missing, unexpected, other
    shapes, with examples), or ``""`` when it fits."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = [f"{k}: file {tuple(state_dict[k].shape)} vs model {expected[k]}"
             for k in expected if k in state_dict and tuple(state_dict[k].shape) != expected[k]]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
    if wrong:
        parts.append(f"{len(wrong)} with other shapes (e.g. {'; '.join(wrong[:3])})")
    return "; ".join(parts)


def check_controlnet_matches_unet(controlnet_config: Any, unet_config: Any) -> None:
    """Raise ``ValueError`` when a ControlNet was built for another UNet architecture."""
    cn = controlnet_config_from_unet(controlnet_config)
    un = controlnet_config_from_unet(unet_config)
    for key in ("block_out_channels", "layers_per_block", "cross_attention_dim", "in_channels",
                "addition_time_embed_dim", "projection_class_embeddings_input_dim"):
        a, b = cn[key], un[key]
        a = list(a) if isinstance(a, (list, tuple)) else a
        b = list(b) if isinstance(b, (list, tuple)) else b
        if a != b:
            raise ValueError(
                f"The ControlNet does not fit the SVD UNet: {key} is {a} in the ControlNet and {b} in "
                "the UNet. Use the LeviTor ControlNet with stable-video-diffusion-img2vid-xt."
            )
