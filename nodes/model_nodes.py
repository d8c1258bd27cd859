"""LoadLeviTorModel and LeviTorSampler: SVD-xt with the LeviTor ControlNet."""

from __future__ import annotations

import gc
import logging
import os
import threading

import numpy as np

from levitor.generation.options import OFFLOAD_MODES, PRECISIONS

from . import convert, host
from .sockets import CATEGORY, CONTROL, MODEL, LeviTorModel

log = logging.getLogger(__name__)

IMAGE_FIT = ("error", "resize", "center crop")
NO_SVD = "(no SVD-xt folder in models/diffusers)"
NO_CONTROLNET = "(no LeviTor ControlNet in models/levitor)"

_cache_lock = threading.Lock()
_cache: dict = {"key": None, "model": None}


def svd_choices() -> list[str]:
    """Diffusers pipeline folders under ``models/diffusers`` (those with a ``model_index.json``), then the
    single-file checkpoints (``svd_xt.safetensors``) under ``models/checkpoints``."""
    files = [f for f in host.list_files("checkpoints") if f.lower().endswith(".safetensors")]
    return host.list_model_dirs("diffusers", ["model_index.json"]) + files or [NO_SVD]


def controlnet_choices() -> list[str]:
    """ControlNet folders (``config.json`` + weights) and single ``.safetensors`` files under ``models/levitor``."""
    dirs = [d for d in host.list_model_dirs("levitor", ["config.json"]) if _is_controlnet_dir(d)]
    files = [f for f in host.list_files("levitor") if f.lower().endswith(".safetensors")
             and not any(f.startswith(d + "/") for d in dirs)]  # weights inside a folder are the folder
    return sorted(set(dirs) | set(files)) or [NO_CONTROLNET]


def _is_controlnet_dir(name: str) -> bool:
    try:
        path = host.resolve_model_dir("levitor", name)
    except ValueError:
        return False
    return any(f.endswith(".safetensors") for f in os.listdir(path))


def resolve_svd(svd_model: str, svd_hub_id: str = "") -> str:
    """The SVD-xt source: a hub id when given, else the chosen folder under ``models/diffusers``."""
    if svd_hub_id and svd_hub_id.strip():
        return svd_hub_id.strip()
    if svd_model == NO_SVD or not svd_model:
        roots = ", ".join(host.folder_paths_for("diffusers")) or "models/diffusers"
        raise ValueError(
            f"svd_model: no SVD-xt folder found; download stabilityai/stable-video-diffusion-img2vid-xt (diffusers "
            f"format) into {roots}, or set svd_hub_id"
        )
    if svd_model.lower().endswith(".safetensors"):
        return host.resolve_model_file("checkpoints", svd_model)
    return host.resolve_model_dir("diffusers", svd_model)


def resolve_controlnet(controlnet: str) -> str:
    """The full path of the chosen ControlNet folder or ``.safetensors`` file under ``models/levitor``."""
    if controlnet == NO_CONTROLNET or not controlnet:
        roots = ", ".join(host.folder_paths_for("levitor")) or "models/levitor"
        raise ValueError(
            f"controlnet: no LeviTor ControlNet found; put the controlnet/ folder of hlwang06/LeviTor (config.json + "
            f"diffusion_pytorch_model.safetensors) or a single .safetensors file into {roots}"
        )
    if controlnet.lower().endswith(".safetensors"):
        return host.resolve_model_file("levitor", controlnet)
    return host.resolve_model_dir("levitor", controlnet)


def release_cached_model() -> None:
    """Drop the cached pipeline and give its memory back."""
    with _cache_lock:
        model = _cache["model"]
        _cache["model"], _cache["key"] = None, None
    if model is not None:
        try:
            model.pipeline.to("cpu")
        except Exception:  # a pipeline with offload hooks may refuse to move; dropping it is enough
            pass
        del model
        gc.collect()
        host.soft_empty_cache()


def load_model(svd_path: str, controlnet_path: str, precision: str, offload: str) -> LeviTorModel:
    """Load (or return the cached) ``LeviTorPipeline`` for these inputs on ComfyUI's device."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if offload not in OFFLOAD_MODES:
        raise ValueError(f"offload must be one of {', '.join(OFFLOAD_MODES)}, got {offload!r}")
    device = host.torch_device()
    key = (svd_path, controlnet_path, precision, offload, str(device))
    with _cache_lock:
        if _cache["key"] == key and _cache["model"] is not None:
            return _cache["model"]
    release_cached_model()
    host.unload_all_models()
    host.soft_empty_cache()
    from levitor.generation.pipeline import LeviTorPipeline
    from levitor.generation.single_file import is_single_file

    load = LeviTorPipeline.from_single_file if is_single_file(svd_path) else LeviTorPipeline.from_pretrained
    pipe = load(svd_path, controlnet_path, precision=precision,
                offload=None if offload == "none" else offload, device=device)
    model = LeviTorModel(pipeline=pipe, key=key, device=device, offload=None if offload == "none" else offload,
                         precision=precision)
    with _cache_lock:
        _cache["key"], _cache["model"] = key, model
    return model


class LoadLeviTorModel:
    """Node: load SVD-xt and the LeviTor ControlNet."""

    DESCRIPTION = (
        "Loads Stable Video Diffusion img2vid-xt (a diffusers folder in models/diffusers, or a hub id) with the "
        "LeviTor ControlNet (a controlnet/ folder or one .safetensors file in models/levitor). The loaded model "
        "is kept while the inputs stay the same and released when they change."
    )
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (MODEL,)
    RETURN_NAMES = ("levitor_model",)
    OUTPUT_TOOLTIPS = ("SVD-xt with the LeviTor ControlNet, for LeviTorSampler.",)

    @classmethod
    def INPUT_TYPES(cls):
        host.register_model_folders()
        return {
            "required": {
                "svd_model": (svd_choices(), {"tooltip": "Diffusers SVD-xt folder (stabilityai/stable-video-"
                                                         "diffusion-img2vid-xt) under models/diffusers, or "
                                                         "svd_xt.safetensors under models/checkpoints."}),
                "controlnet": (controlnet_choices(), {"tooltip": "LeviTor ControlNet under models/levitor: the "
                                                                 "controlnet/ folder of hlwang06/LeviTor or a single "
                                                                 ".safetensors file."}),
                "precision": (list(PRECISIONS), {"default": "auto",
                                                 "tooltip": "Weights dtype. auto: fp16-autocast on CUDA, fp16 on "
                                                            "MPS, fp32 on CPU. fp16-autocast is the reference's "
                                                            "regime (fp32 UNet/ControlNet under fp16 autocast)."}),
                "offload": (list(OFFLOAD_MODES), {"default": "none",
                                                  "tooltip": "CPU offload: model (whole sub-models, moderate "
                                                             "saving) or sequential (layer by layer, least memory, "
                                                             "slowest)."}),
            },
            "optional": {
                "svd_hub_id": ("STRING", {"default": "", "tooltip": "Optional hub id or path of SVD-xt; when set "
                                                                    "it replaces svd_model."}),
            },
        }

    def load(self, svd_model, controlnet, precision, offload, svd_hub_id=""):
        host.register_model_folders()
        svd_path = resolve_svd(svd_model, svd_hub_id)
        controlnet_path = resolve_controlnet(controlnet)
        return (load_model(svd_path, controlnet_path, precision, offload),)


def sample_frames(model: LeviTorModel, image: np.ndarray, control: np.ndarray, *, steps: int, min_guidance: float,
                  max_guidance: float, motion_bucket_id: int, fps: int, noise_aug_strength: float,
                  control_scale: float, seed: int, decode_chunk_size: int, on_step=None) -> np.ndarray:
    """Run the pipeline; ``(F, H, W, 3)`` float32 frames in 0..1. ``on_step()`` runs after every step."""
    pipe = model.pipeline

    def callback(pipeline, step, timestep, kwargs):
        if on_step is not None:
            on_step()
        return kwargs

    out = pipe(image, control, num_inference_steps=int(steps), min_guidance_scale=float(min_guidance),
               max_guidance_scale=float(max_guidance), fps=int(fps), motion_bucket_id=int(motion_bucket_id),
               noise_aug_strength=float(noise_aug_strength), control_scale=float(control_scale),
               decode_chunk_size=int(decode_chunk_size) if decode_chunk_size else None, seed=int(seed),
               output_type="np", callback_on_step_end=callback)
    frames = out.frames if hasattr(out, "frames") else out[0]
    frames = np.asarray(frames.detach().cpu().float().numpy() if hasattr(frames, "detach") else frames)
    if frames.ndim == 5:
        frames = frames[0]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise RuntimeError(f"the pipeline returned frames of shape {frames.shape}, expected (F, H, W, 3)")
    return frames.astype(np.float32)


class LeviTorSampler:
    """Node: generate the video with SVD-xt guided by the control maps."""

    DESCRIPTION = (
        "Generates the frames: SVD-xt conditioned on the start image, with the LeviTor ControlNet reading the "
        "control maps. Reference settings: 25 steps, guidance 1 to 3 across frames, motion bucket 100, fps 6, "
        "noise augmentation 0.02, control scale 1, seed 217. Shows a progress bar per step; Cancel stops between "
        "steps."
    )
    CATEGORY = CATEGORY
    FUNCTION = "sample"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("The generated frames as an IMAGE batch (one frame per item); feed a video saver.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "levitor_model": (MODEL, {"tooltip": "From LoadLeviTorModel."}),
                "image": ("IMAGE", {"tooltip": "The start image (first batch item); same size as the control maps "
                                               "unless image_fit allows otherwise."}),
                "control": (CONTROL, {"tooltip": "Control maps from LeviTorKMeansControlPoints."}),
                "steps": ("INT", {"default": 25, "min": 1, "max": 200, "tooltip": "Denoising steps (reference 25)."}),
                "min_guidance": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 20.0, "step": 0.1,
                                           "tooltip": "Guidance of the first frame; it rises linearly to "
                                                      "max_guidance at the last frame."}),
                "max_guidance": ("FLOAT", {"default": 3.0, "min": 0.0, "max": 20.0, "step": 0.1,
                                           "tooltip": "Guidance of the last frame."}),
                "motion_bucket_id": ("INT", {"default": 100, "min": 1, "max": 255,
                                             "tooltip": "SVD motion amount (reference UI 1-180, default 100)."}),
                "fps": ("INT", {"default": 6, "min": 1, "max": 60, "tooltip": "Frame rate SVD is conditioned on."}),
                "noise_aug_strength": ("FLOAT", {"default": 0.02, "min": 0.0, "max": 1.0, "step": 0.01,
                                                 "tooltip": "Noise added to the start image before encoding."}),
                "control_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.05,
                                            "tooltip": "Multiplies every ControlNet residual (reference 1.0)."}),
                "seed": ("INT", {"default": 217, "min": 0, "max": 0xFFFFFFFFFFFFFFFF,
                                 "tooltip": "Noise seed (the reference always uses 217)."}),
                "decode_chunk_size": ("INT", {"default": 0, "min": 0, "max": 128,
                                              "tooltip": "Frames decoded at once by the VAE; 0 = all (reference). "
                                                         "Lower to save memory."}),
                "force_offload": ("BOOLEAN", {"default": True, "tooltip": "Move the model off the GPU after "
                                                                          "sampling to free memory."}),
                "image_fit": (list(IMAGE_FIT), {"default": "error",
                                                "tooltip": "When the image size differs from the control maps: "
                                                           "error, resize (stretches) or center crop."}),
            },
        }

    def sample(self, levitor_model, image, control, steps, min_guidance, max_guidance, motion_bucket_id, fps,
               noise_aug_strength, control_scale, seed, decode_chunk_size, force_offload, image_fit="error"):
        import torch

        if not isinstance(levitor_model, LeviTorModel):
            raise ValueError("levitor_model must come from LoadLeviTorModel (a LEVITOR_MODEL output)")
        if not hasattr(control, "control"):
            raise ValueError("control must come from LeviTorKMeansControlPoints (a LEVITOR_CONTROL output)")
        if max_guidance < min_guidance:
            raise ValueError(f"max_guidance ({max_guidance}) must not be below min_guidance ({min_guidance})")
        maps = np.asarray(control.control, dtype=np.float32)
        height, width = maps.shape[-2:]
        if height % 8 or width % 8:
            raise ValueError(
                f"the control maps are {width}x{height}; SVD needs both sides to be multiples of 8: resize the start "
                "image (e.g. to 288x512) before planning"
            )
        img = convert.fit_image(convert.image_to_numpy(image, name="image"), height, width, image_fit, name="image")
        host.check_interrupted()
        pipe = levitor_model.pipeline
        if levitor_model.offload is None:
            pipe.to(host.torch_device())
        bar = host.progress_bar(int(steps))

        def on_step():
            bar.update(1)
            host.check_interrupted()

        try:
            frames = sample_frames(levitor_model, img, maps, steps=steps, min_guidance=min_guidance,
                                   max_guidance=max_guidance, motion_bucket_id=motion_bucket_id, fps=fps,
                                   noise_aug_strength=noise_aug_strength, control_scale=control_scale, seed=seed,
                                   decode_chunk_size=decode_chunk_size, on_step=on_step)
        finally:
            if force_offload and levitor_model.offload is None:
                pipe.to(host.offload_device())
                host.soft_empty_cache()
        out = torch.from_numpy(np.ascontiguousarray(np.clip(frames, 0.0, 1.0)))
        return (out.to(host.intermediate_device()),)


NODE_CLASS_MAPPINGS = {"LoadLeviTorModel": LoadLeviTorModel, "LeviTorSampler": LeviTorSampler}
NODE_DISPLAY_NAME_MAPPINGS = {"LoadLeviTorModel": "Load LeviTor Model", "LeviTorSampler": "LeviTor Sampler"}
