"""LoadLeviTorModel and LeviTorSampler: SVD-xt with the LeviTor ControlNet."""

from __future__ import annotations

import gc
import logging
import os

import numpy as np
import torch

from levitor import limits
from levitor.generation.options import (
    DEFAULT_OFFLOAD,
    DEFAULT_PRECISION,
    DEFAULT_TEMPORAL_CONTEXT,
    OFFLOAD_MODES,
    PRECISIONS,
    TEMPORAL_CONTEXTS,
    check_offload,
)
from levitor.generation.pipeline import LeviTorPipeline

from . import convert, host
from .api import Control, Model, check_choices, io, keyword_defaults
from .model_cache import KeyedCache
from .sockets import CATEGORY, LeviTorModel

log = logging.getLogger(__name__)

IMAGE_FIT = ("error", "resize", "center crop")
NO_SVD = "(no SVD-xt folder in models/diffusers)"
NO_CONTROLNET = "(no LeviTor ControlNet in models/levitor)"


CALL_DEFAULTS = keyword_defaults(LeviTorPipeline.__call__)


def _release(model: LeviTorModel) -> None:
    try:
        model.pipeline.to("cpu")
    except Exception:  # a pipeline with offload hooks may refuse to move; dropping it is enough
        pass
    del model
    gc.collect()
    host.soft_empty_cache()


_models = KeyedCache(1, on_evict=_release)


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


def _resolve_choice(choice: str, none_label: str, *, folder: str, file_folder: str, missing: str) -> str:
    """The path of a model chosen from a folder list: a folder under ``models/<folder>`` or a
    ``.safetensors`` file under ``models/<file_folder>``. ``missing`` (with ``{roots}``) is the
    error when nothing is chosen."""
    if choice == none_label or not choice:
        roots = ", ".join(host.folder_paths_for(folder)) or f"models/{folder}"
        raise ValueError(missing.format(roots=roots))
    if choice.lower().endswith(".safetensors"):
        return host.resolve_model_file(file_folder, choice)
    return host.resolve_model_dir(folder, choice)


def resolve_svd(svd_model: str, svd_hub_id: str = "") -> str:
    """The SVD-xt source: a hub id when given, else the chosen folder under ``models/diffusers``."""
    if svd_hub_id and svd_hub_id.strip():
        return svd_hub_id.strip()
    return _resolve_choice(
        svd_model, NO_SVD, folder="diffusers", file_folder="checkpoints",
        missing="svd_model: no SVD-xt folder found; download stabilityai/stable-video-diffusion-img2vid-xt "
        "(diffusers format) into {roots}, or set svd_hub_id",
    )


def resolve_controlnet(controlnet: str) -> str:
    """The full path of the chosen ControlNet folder or ``.safetensors`` file under ``models/levitor``."""
    return _resolve_choice(
        controlnet, NO_CONTROLNET, folder="levitor", file_folder="levitor",
        missing="controlnet: no LeviTor ControlNet found; put the controlnet/ folder of hlwang06/LeviTor "
        "(config.json + diffusion_pytorch_model.safetensors) or a single .safetensors file into {roots}",
    )


def release_cached_model() -> None:
    """Drop the cached pipeline and give its memory back."""
    _models.clear()


def load_model(svd_path: str, controlnet_path: str, precision: str, offload: str,
               temporal_context: str = DEFAULT_TEMPORAL_CONTEXT) -> LeviTorModel:
    """Load (or return the cached) ``LeviTorPipeline`` for these inputs on ComfyUI's device."""
    problem = check_choices(precision=(precision, PRECISIONS), offload=(offload, OFFLOAD_MODES),
                            temporal_context=(temporal_context, TEMPORAL_CONTEXTS))
    if problem is not True:
        raise ValueError(problem)
    device = host.torch_device()
    mode = check_offload(offload)

    def load() -> LeviTorModel:
        host.unload_all_models()
        host.soft_empty_cache()
        pipe = LeviTorPipeline.from_pretrained(svd_path, controlnet_path, precision=precision, offload=mode,
                                               device=device, temporal_context=temporal_context)
        return LeviTorModel(pipeline=pipe, offload=mode)

    return _models.get_or_load((svd_path, controlnet_path, precision, offload, temporal_context, str(device)), load)


class LoadLeviTorModel(io.ComfyNode):
    """Node: load SVD-xt and the LeviTor ControlNet."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        host.register_model_folders()
        return io.Schema(
            node_id="LoadLeviTorModel",
            display_name="Load LeviTor Model",
            category=CATEGORY,
            description=(
                "Loads Stable Video Diffusion img2vid-xt (a diffusers folder in models/diffusers, or a hub id) with "
                "the LeviTor ControlNet (a controlnet/ folder or one .safetensors file in models/levitor). The "
                "loaded model is kept while the inputs stay the same and released when they change."
            ),
            inputs=[
                io.Combo.Input("svd_model", options=svd_choices(),
                               tooltip="Diffusers SVD-xt folder (stabilityai/stable-video-diffusion-img2vid-xt) "
                                       "under models/diffusers, or svd_xt.safetensors under models/checkpoints."),
                io.Combo.Input("controlnet", options=controlnet_choices(),
                               tooltip="LeviTor ControlNet under models/levitor: the controlnet/ folder of "
                                       "hlwang06/LeviTor or a single .safetensors file."),
                io.Combo.Input("precision", options=list(PRECISIONS), default=DEFAULT_PRECISION,
                               tooltip="Weights dtype. auto: fp16-autocast on CUDA, fp16 on MPS, fp32 on CPU. "
                                       "fp16-autocast is the reference's regime (fp32 UNet/ControlNet under fp16 "
                                       "autocast)."),
                io.Combo.Input("offload", options=list(OFFLOAD_MODES), default=DEFAULT_OFFLOAD,
                               tooltip="CPU offload: model (whole sub-models, moderate saving) or sequential "
                                       "(layer by layer, least memory, slowest)."),
                io.String.Input("svd_hub_id", default="", optional=True,
                                tooltip="Optional hub id or path of SVD-xt; when set it replaces svd_model."),
                io.Combo.Input("temporal_context", options=list(TEMPORAL_CONTEXTS), default=DEFAULT_TEMPORAL_CONTEXT,
                               optional=True,
                               tooltip="Order of the image embedding in temporal attention. reference: the "
                                       "original implementation's order, which reproduces its videos; "
                                       "per-sample: stock diffusers order, what SVD was trained with. With batch "
                                       "1 both give the same result."),
            ],
            outputs=[Model.Output("levitor_model", display_name="levitor_model",
                                  tooltip="SVD-xt with the LeviTor ControlNet, for LeviTorSampler.")],
        )

    @classmethod
    def validate_inputs(cls, precision, offload, temporal_context=None):
        return check_choices(precision=(precision, PRECISIONS), offload=(offload, OFFLOAD_MODES),
                             temporal_context=(temporal_context, TEMPORAL_CONTEXTS))

    @classmethod
    def execute(cls, svd_model, controlnet, precision, offload, svd_hub_id="",
                temporal_context=DEFAULT_TEMPORAL_CONTEXT) -> io.NodeOutput:
        host.register_model_folders()
        svd_path = resolve_svd(svd_model, svd_hub_id)
        controlnet_path = resolve_controlnet(controlnet)
        return io.NodeOutput(load_model(svd_path, controlnet_path, precision, offload, temporal_context))


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


def _ranged(bound, default, tooltip, **extra):
    """Widget options: the default, the tooltip and the bound's min/max from levitor.limits."""
    return dict(default=default, tooltip=tooltip, **bound.widget(), **extra)


class LeviTorSampler(io.ComfyNode):
    """Node: generate the video with SVD-xt guided by the control maps."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        d = CALL_DEFAULTS
        return io.Schema(
            node_id="LeviTorSampler",
            display_name="LeviTor Sampler",
            category=CATEGORY,
            description=(
                "Generates the frames: SVD-xt conditioned on the start image, with the LeviTor ControlNet reading "
                "the control maps. Reference settings: 25 steps, guidance 1 to 3 across frames, motion bucket 100, "
                "fps 6, noise augmentation 0.02, control scale 1, seed 217. Shows a progress bar per step; Cancel "
                "stops between steps."
            ),
            inputs=[
                Model.Input("levitor_model", tooltip="From LoadLeviTorModel."),
                io.Image.Input("image", tooltip="The start image (first batch item); same size as the control maps "
                                                "unless image_fit allows otherwise."),
                Control.Input("control", tooltip="Control maps from LeviTorKMeansControlPoints."),
                io.Int.Input("steps", **_ranged(limits.STEPS, d["num_inference_steps"],
                                             "Denoising steps (reference 25).")),
                io.Float.Input("min_guidance", step=0.1, **_ranged(limits.GUIDANCE, d["min_guidance_scale"],
                               "Guidance of the first frame; it rises linearly to max_guidance at the last "
                               "frame.")),
                io.Float.Input("max_guidance", step=0.1, **_ranged(limits.GUIDANCE, d["max_guidance_scale"],
                               "Guidance of the last frame.")),
                io.Int.Input("motion_bucket_id", **_ranged(limits.MOTION_BUCKET_ID, d["motion_bucket_id"],
                             "SVD motion amount (reference UI 1-180, default 100).")),
                io.Int.Input("fps", **_ranged(limits.FPS, d["fps"], "Frame rate SVD is conditioned on.")),
                io.Float.Input("noise_aug_strength", step=0.01, **_ranged(limits.NOISE_AUG_STRENGTH,
                               d["noise_aug_strength"], "Noise added to the start image before encoding.")),
                io.Float.Input("control_scale", step=0.05, **_ranged(limits.CONTROL_SCALE, d["control_scale"],
                               "Multiplies every ControlNet residual (reference 1.0).")),
                io.Int.Input("seed", **_ranged(limits.SEED, d["seed"], "Noise seed (the reference always uses 217).")),
                io.Int.Input("decode_chunk_size", **_ranged(limits.DECODE_CHUNK_SIZE, d["decode_chunk_size"] or 0,
                             "Frames decoded at once by the VAE; 0 = all (reference). Lower to save memory.")),
                io.Boolean.Input("force_offload", default=True,
                                 tooltip="Move the model off the GPU after sampling to free memory."),
                io.Combo.Input("image_fit", options=list(IMAGE_FIT), default=IMAGE_FIT[0],
                               tooltip="When the image size differs from the control maps: error, resize "
                                       "(stretches) or center crop."),
            ],
            outputs=[io.Image.Output("frames", display_name="frames",
                                     tooltip="The generated frames as an IMAGE batch (one frame per item); feed a "
                                             "video saver.")],
        )

    @classmethod
    def validate_inputs(cls, image_fit):
        return check_choices(image_fit=(image_fit, IMAGE_FIT))

    @classmethod
    def execute(cls, levitor_model, image, control, steps, min_guidance, max_guidance, motion_bucket_id, fps,
                noise_aug_strength, control_scale, seed, decode_chunk_size, force_offload,
                image_fit=IMAGE_FIT[0]) -> io.NodeOutput:
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
        return io.NodeOutput(out.to(host.intermediate_device()))


NODES = [LoadLeviTorModel, LeviTorSampler]
