"""Loading SVD-xt and the LeviTor ControlNet from disk: folders, single files, variants, dtypes, devices.

Weights are read from safetensors only; nothing is unpickled. Every ``config.json`` is validated
(:mod:`.configs`) before a module is built, and every failure is a ``ValueError`` that names the
file and what to do about it. One loader per model kind, each taking a file or a folder:
:func:`load_svd_components` for SVD-xt (a diffusers folder or one SGM ``svd_xt.safetensors``) and
:func:`load_controlnet` for the LeviTor ControlNet (its ``controlnet/`` folder or one
``.safetensors`` file under any name); the pipeline, the CLI, the nodes and the trainer all use them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import transformers
from accelerate import init_empty_weights
from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
from packaging.version import Version
from safetensors import SafetensorError
from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

try:
    from huggingface_hub.errors import StrictDataclassError as _HubConfigError
except ImportError:  # a huggingface_hub without typed config checks
    _HubConfigError = ValueError

from ..io.weights import read_state_dict
from .configs import (
    SVD_XT_SCHEDULER_CONFIG,
    infer_controlnet_config,
    read_json_config,
    validate_controlnet_config,
    validate_feature_extractor_config,
    validate_image_encoder_config,
    validate_unet_config,
)
from .models.controlnet_svd import ControlNetSVDModel, state_dict_mismatch
from .models.unet_svd import UNetSpatioTemporalControlModel
from .options import Precision, PrecisionPlan, check_precision
from .single_file import load_single_file

SVD_SUBFOLDERS = ("unet", "vae", "image_encoder", "feature_extractor", "scheduler")
CONTROLNET_CLASS = "ControlNetSVDModel"
CONTROLNET_SUBFOLDER = "controlnet"
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
TRANSFORMERS_WEIGHTS = "model.safetensors"
CONTROLNET_WEIGHTS = DIFFUSERS_WEIGHTS
#: ``variant="auto"``: the ``.fp16`` weight files where a component has them, else the plain ones.
AUTO_VARIANT = "auto"
_DTYPES = {Precision.FP32.value: torch.float32, Precision.FP16.value: torch.float16,
           Precision.BF16.value: torch.bfloat16}
_HALF = (torch.float16, torch.bfloat16)
#: Errors the diffusers / transformers / safetensors readers raise for a broken or missing file.
# What the library loaders raise for damaged files (huggingface_hub's typed config checks raise
# StrictDataclassError); each becomes a ValueError naming the folder.
_READ_ERRORS = (OSError, ValueError, RuntimeError, KeyError, TypeError, IndexError, SafetensorError,
                json.JSONDecodeError, _HubConfigError)


#: CPU kernels pick their blocking (and so their float rounding) by the address of the weights.
_ALIGNMENT = 64


def own_memory(module: torch.nn.Module) -> torch.nn.Module:
    """Move every parameter and buffer that still lives in a memory-mapped weights file (at an
    address the file's header length decides) into memory of its own.

    The same weights then compute the same floats however the file was laid out (a re-saved
    folder, another name, other metadata), and the model does not depend on the file staying
    unchanged on disk. Tensors already in their own memory are left alone (no copy).
    """
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.device.type == "cpu" and tensor.numel() and tensor.data_ptr() % _ALIGNMENT:
            tensor.data = tensor.data.clone()
    return module


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


def resolve_precision(precision: str | Precision = Precision.AUTO, device: str | torch.device | None = None,
                      torch_dtype: torch.dtype | None = None) -> PrecisionPlan:
    """Turn a precision name (or an explicit ``torch_dtype``) into a :class:`PrecisionPlan`.

    ``"auto"``: ``fp16-autocast`` on CUDA, ``fp16`` on MPS, ``fp32`` elsewhere. ``torch_dtype``
    (fp32, fp16 or bf16) holds every component in that dtype; it cannot be combined with
    another precision than ``"auto"``.
    """
    precision = check_precision(precision)
    if torch_dtype is not None:
        if torch_dtype not in _DTYPES.values():
            raise ValueError(f"torch_dtype must be torch.float32, torch.float16 or torch.bfloat16; got {torch_dtype!r}.")
        if precision != Precision.AUTO.value:
            raise ValueError(f"pass either precision={precision!r} or torch_dtype={torch_dtype}, not both.")
        return PrecisionPlan(str(torch_dtype).replace("torch.", ""), torch_dtype, torch_dtype, torch_dtype)
    if precision == Precision.AUTO.value:
        device = torch.device(device) if device is not None else default_device()
        precision = {"cuda": Precision.FP16_AUTOCAST.value, "mps": Precision.FP16.value}.get(
            device.type, Precision.FP32.value)
    if precision == Precision.FP16_AUTOCAST.value:
        return PrecisionPlan(precision, torch.float32, torch.float16, torch.float16, autocast_dtype=torch.float16)
    dtype = _DTYPES[precision]
    return PrecisionPlan(precision, dtype, dtype, dtype)


def training_precision(dtype: torch.dtype) -> PrecisionPlan:
    """The frozen models of a training run in mixed-precision ``dtype``: UNet and image encoder in
    ``dtype``, the VAE in fp32 (its encoder is unstable in half precision)."""
    return PrecisionPlan(f"train-{str(dtype).replace('torch.', '')}", dtype, torch.float32, dtype)


def resolve_svd_folder(svd_path: str | os.PathLike, *, subfolder: str | None = None,
                       variant: str | None = AUTO_VARIANT) -> Path:
    """Return the local SVD folder; a Hugging Face repo id is downloaded (weights as safetensors)."""
    text = os.fspath(svd_path)
    path = Path(text).expanduser()
    if not path.exists():
        if text.count("/") == 1 and not text.startswith((".", "/", "~")):
            path = _download(text, variant)
        else:
            raise ValueError(
                f"SVD folder {text!r} does not exist. Pass the path of a diffusers "
                "stable-video-diffusion-img2vid-xt folder (the one holding model_index.json)."
            )
    if subfolder:
        path = path / subfolder
    if not path.is_dir():
        raise ValueError(
            f"svd_path {str(path)!r} is not a folder; pass the SVD-xt folder that holds model_index.json "
            "and the unet/, vae/, image_encoder/, feature_extractor/, scheduler/ subfolders."
        )
    missing = [s for s in SVD_SUBFOLDERS if not (path / s).is_dir()]
    if missing:
        raise ValueError(
            f"{str(path)!r} is not a Stable Video Diffusion folder: missing subfolder(s) "
            f"{', '.join(missing)}. Pass the folder of stabilityai/stable-video-diffusion-img2vid-xt."
        )
    return path


def _download(repo_id: str, variant: str | None) -> Path:
    """Download the configs and safetensors weights of a hub repository (lazily imported client)."""
    weights = ["*.safetensors"] if variant is None else [f"*.{'fp16' if variant == AUTO_VARIANT else variant}.safetensors"]
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.txt", *weights]))
    except Exception as exc:  # network, authentication, missing repository, missing client
        raise ValueError(
            f"svd_path {repo_id!r} is not a local folder and could not be downloaded from the "
            f"Hugging Face hub ({exc}). Download stabilityai/stable-video-diffusion-img2vid-xt "
            "and pass the folder path."
        ) from exc


def weights_variant(folder: Path, base: str, variant: str | None = AUTO_VARIANT) -> str | None:
    """The variant to load from ``folder`` for weight file ``base``, falling back per component.

    ``"auto"`` or a variant name: that variant's file (``"auto"`` means ``fp16``) when the folder
    has it, else the plain file (as ``DiffusionPipeline.from_pretrained`` does). ``None``: the
    plain file. ValueError when neither exists.
    """
    stem, ext = base.rsplit(".", 1)
    wanted = "fp16" if variant == AUTO_VARIANT else variant
    if wanted is not None and (folder / f"{stem}.{wanted}.{ext}").is_file():
        return wanted
    if (folder / base).is_file():
        return None
    hint = f"{stem}.{wanted}.{ext} or {base}" if wanted else base
    others = sorted(p.name for p in folder.glob(f"{stem}.*.{ext}")) if folder.is_dir() else []
    fix = f" (the folder has {', '.join(others)}: pass variant={others[0].split('.')[1]!r})" if others else ""
    raise ValueError(
        f"no safetensors weights in {str(folder)!r}: expected {hint}{fix}. Download the .safetensors "
        "files of the model; pickled .bin checkpoints are not loaded."
    )


def _transformers_dtype_kwarg() -> str:
    """transformers >= 4.56 calls the dtype argument ``dtype``; older versions ``torch_dtype``."""
    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def _read(what: str, where: Path, load: Callable[[], Any]) -> Any:
    """Run a library loader; its errors become a ValueError naming ``where``."""
    try:
        return load()
    except _READ_ERRORS as exc:
        raise ValueError(f"cannot load the {what} from {str(where)!r}: {exc}") from exc


def load_svd_components(svd_path: str | os.PathLike, plan: PrecisionPlan, *, variant: str | None = AUTO_VARIANT,
                        subfolder: str | None = None, low_cpu_mem_usage: bool = True) -> dict:
    """Load UNet, VAE, CLIP image encoder, feature extractor and scheduler from SVD-xt: a diffusers
    folder (or hub id), or one SGM-layout ``.safetensors`` file (ComfyUI's ``svd_xt.safetensors``,
    converted in memory with a strict key check: :func:`levitor.generation.single_file.load_single_file`).

    ``variant`` is resolved per component (:func:`weights_variant`; folders only). The configs are
    validated first; ValueError when the UNet is not an image-to-video UNet (``in_channels`` != 8).
    """
    path = Path(os.fspath(svd_path)).expanduser()
    if path.is_file():
        if subfolder:
            raise ValueError(f"subfolder={subfolder!r} was given but {str(path)!r} is a single file; pass its folder "
                             "or leave subfolder out.")
        return {k: own_memory(v) if isinstance(v, torch.nn.Module) else v
                for k, v in load_single_file(path, plan).items()}
    folder = resolve_svd_folder(svd_path, subfolder=subfolder, variant=variant)
    unet_config_path = folder / "unet" / "config.json"
    unet_config = validate_unet_config(read_json_config(unet_config_path, "UNet config"), str(unet_config_path))
    if unet_config.get("in_channels") != 8:
        raise ValueError(
            f"The UNet in {str(folder)!r} has in_channels={unet_config.get('in_channels')}; LeviTor needs "
            "an image-to-video SVD UNet (in_channels 8), e.g. stable-video-diffusion-img2vid-xt."
        )
    read_json_config(folder / "vae" / "config.json", "VAE config")
    encoder_config_path = folder / "image_encoder" / "config.json"
    validate_image_encoder_config(read_json_config(encoder_config_path, "image encoder config"),
                                  str(encoder_config_path))
    extractor_config_path = folder / "feature_extractor" / "preprocessor_config.json"
    validate_feature_extractor_config(read_json_config(extractor_config_path, "feature extractor config"),
                                      str(extractor_config_path))
    read_json_config(folder / "scheduler" / "scheduler_config.json", "scheduler config")

    common = dict(use_safetensors=True, low_cpu_mem_usage=low_cpu_mem_usage)
    unet = _read("UNet", folder / "unet", lambda: UNetSpatioTemporalControlModel.from_pretrained(
        folder, subfolder="unet", variant=weights_variant(folder / "unet", DIFFUSERS_WEIGHTS, variant),
        torch_dtype=plan.denoiser_dtype, **common))
    vae = _read("VAE", folder / "vae", lambda: AutoencoderKLTemporalDecoder.from_pretrained(
        folder, subfolder="vae", variant=weights_variant(folder / "vae", DIFFUSERS_WEIGHTS, variant),
        torch_dtype=plan.vae_dtype, **common))
    image_encoder = _read("image encoder", folder / "image_encoder", lambda: CLIPVisionModelWithProjection.from_pretrained(
        folder / "image_encoder", variant=weights_variant(folder / "image_encoder", TRANSFORMERS_WEIGHTS, variant),
        use_safetensors=True, **{_transformers_dtype_kwarg(): plan.image_encoder_dtype}))
    feature_extractor = _read("feature extractor", folder / "feature_extractor",
                              lambda: CLIPImageProcessor.from_pretrained(folder / "feature_extractor"))
    scheduler = _read("scheduler", folder / "scheduler",
                      lambda: EulerDiscreteScheduler.from_pretrained(folder, subfolder="scheduler"))
    return {
        "unet": own_memory(unet).train(False),
        "vae": own_memory(vae).train(False),
        "image_encoder": own_memory(image_encoder).train(False),
        "feature_extractor": feature_extractor,
        "scheduler": scheduler,
    }


def load_scheduler(svd_path: str | os.PathLike) -> EulerDiscreteScheduler:
    """The Euler scheduler of SVD-xt: the folder's ``scheduler/`` config, or SVD-xt's own for a
    single checkpoint file (which holds no scheduler config)."""
    path = Path(os.fspath(svd_path)).expanduser()
    if path.is_file():
        return EulerDiscreteScheduler.from_config(SVD_XT_SCHEDULER_CONFIG)
    folder = resolve_svd_folder(path)
    return _read("scheduler", folder / "scheduler",
                 lambda: EulerDiscreteScheduler.from_pretrained(folder, subfolder="scheduler"))


def saved_controlnet(folder: str | os.PathLike) -> Path | None:
    """The ``controlnet/`` folder a saved :class:`LeviTorPipeline` lists in its ``model_index.json``."""
    folder = Path(folder)
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        return None
    entry = read_json_config(index_path, "pipeline index").get(CONTROLNET_SUBFOLDER)
    if not isinstance(entry, (list, tuple)) or len(entry) != 2 or entry[0] is None:
        return None
    if entry[1] != CONTROLNET_CLASS:
        raise ValueError(f"{str(index_path)!r}: 'controlnet' is a {entry[1]!r}, not a LeviTor {CONTROLNET_CLASS}")
    path = folder / CONTROLNET_SUBFOLDER
    if not path.is_dir():
        raise ValueError(f"{str(index_path)!r} lists a ControlNet but {str(path)!r} is missing; save the pipeline again")
    return path


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
    config = read_json_config(path, "ControlNet config")
    name = config.get("_class_name", CONTROLNET_CLASS)
    if name != CONTROLNET_CLASS:
        raise ValueError(
            f"{str(path)!r} describes a {name}, not a LeviTor {CONTROLNET_CLASS}; pass the controlnet/ "
            "folder of hlwang06/LeviTor."
        )
    return validate_controlnet_config(config, str(path))


#: What a ControlNet file's tensor shapes do not tell; taken from the UNet when it is known.
_UNSEEN_IN_SHAPES = ("num_attention_heads", "sample_size", "num_frames")


def _file_config(weights: Path, state: dict, unet_config: Any) -> dict:
    """Config of a single ControlNet file: a ``config.json`` of our class beside it, else read from
    the tensor shapes, with what shapes cannot tell (attention heads, sample size, frame count)
    from ``unet_config`` when given, else as in SVD-xt."""
    sidecar = weights.parent / "config.json"
    if sidecar.is_file():
        try:
            candidate = read_json_config(sidecar)
        except ValueError:
            candidate = {}  # some other, unreadable config.json in the same folder
        if candidate.get("_class_name") == CONTROLNET_CLASS:
            return _read_controlnet_config(sidecar)
    config = infer_controlnet_config(state, weights.name)
    if unet_config is not None:
        get = unet_config.get if isinstance(unet_config, dict) else lambda k: getattr(unet_config, k, None)
        config.update({k: get(k) for k in _UNSEEN_IN_SHAPES if get(k) is not None})
    return validate_controlnet_config(config, f"ControlNet config read from the tensors of {str(weights)!r}")


def _check_state_dict(state_dict: dict, model: torch.nn.Module, weights: Path) -> None:
    problem = state_dict_mismatch(model, state_dict)
    if problem:
        raise ValueError(
            f"ControlNet weights {str(weights)!r} do not match its config: {problem}. Use the "
            "config.json that came with the weights (SVD-xt architecture for the released model)."
        )


def load_controlnet(
    controlnet: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    unet_config: Any = None,
    variant: str | None = None,
    low_cpu_mem_usage: bool = True,
) -> ControlNetSVDModel:
    """Load a :class:`~levitor.generation.models.controlnet_svd.ControlNetSVDModel` from a folder or a single ``.safetensors`` file.

    * Folder: ``config.json`` (``_class_name`` ControlNetSVDModel, ``with_id_feature`` false,
      validated) and ``diffusion_pytorch_model.safetensors``; ``variant`` (e.g. ``"fp16"``)
      prefers that variant's file and falls back to the plain one; without a variant the plain
      file is read, or the ``.fp16`` one when it is the only one.
    * File (any name; the released ``diffusion_pytorch_model.safetensors`` in fp32, fp16 or bf16):
      the config comes from a ``config.json`` of class ControlNetSVDModel next to the file, else
      from the tensor shapes; the attention heads, which shapes do not tell, from ``unet_config``
      when given, else SVD-xt's 64 channels per head.

    ``unet_config`` also checks that the ControlNet fits that UNet.

    The state dict must match exactly (no missing or unexpected keys, same shapes). With
    ``low_cpu_mem_usage`` the model is built without memory and takes the file's tensors.
    """
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
        if variant is None and not (path / CONTROLNET_WEIGHTS).is_file():
            variant = AUTO_VARIANT  # only a variant file: take it
        chosen = weights_variant(path, CONTROLNET_WEIGHTS, variant)
        weights = path / (CONTROLNET_WEIGHTS if chosen is None else f"diffusion_pytorch_model.{chosen}.safetensors")
    else:
        if path.suffix != ".safetensors":
            raise ValueError(f"ControlNet file {str(path)!r} is not a .safetensors file; convert or download the safetensors weights.")
        weights = path
        config = None

    state_dict = read_state_dict(weights, what="ControlNet weights")
    if config is None:
        config = _file_config(weights, state_dict, unet_config)
    if low_cpu_mem_usage:
        with init_empty_weights():
            model = ControlNetSVDModel.from_config(config)
    else:
        model = ControlNetSVDModel.from_config(config)
    _check_state_dict(state_dict, model, weights)
    model.load_state_dict({k: v.to(dtype) for k, v in state_dict.items()}, strict=True, assign=low_cpu_mem_usage)
    if not low_cpu_mem_usage:
        torch.nn.Module.to(model, dtype=dtype)  # parameters were built in fp32
    if unet_config is not None:
        check_controlnet_matches_unet(model.config, unet_config)
    return own_memory(model).train(False)


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
