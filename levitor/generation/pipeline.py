"""LeviTor sampling: Stable Video Diffusion (SVD-xt) steered by a ControlNet on per-frame control maps.

:class:`LeviTorPipeline` takes the start image and the ``(F, 3, H, W)`` control maps of a plan
(:class:`levitor.planning.plan.PlanResult` or a plain array) and returns ``F`` frames. Sampling follows the
original implementation: Euler (Karras σ, v-prediction, continuous timesteps) from the SVD folder's
scheduler config, classifier-free guidance with a per-frame scale ``linspace(min, max, F)``, the
ControlNet applied to both guidance halves, and the noise drawn from one CPU generator in a fixed
order (noise augmentation first, then the initial latents) so a seed gives the same video on any
device, and the temporal attention in the original's context order (``temporal_context``).

A call runs :meth:`LeviTorPipeline.check_inputs` (every argument, before any slow work),
:meth:`~LeviTorPipeline.encode_image`, :meth:`~LeviTorPipeline.prepare_latents`,
:meth:`~LeviTorPipeline.denoise` and :meth:`~LeviTorPipeline.decode`.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from accelerate import cpu_offload
from diffusers import AutoencoderKLTemporalDecoder, DiffusionPipeline, EulerDiscreteScheduler
from diffusers.utils import BaseOutput
from diffusers.video_processor import VideoProcessor

from .conditioning import added_time_ids, draw_noise, encode_clip_image, encode_first_frame_latents
from .loading import (
    AUTO_VARIANT,
    check_controlnet_matches_unet,
    default_device,
    load_controlnet,
    load_svd_components,
    resolve_precision,
    saved_controlnet,
)
from .models.controlnet_svd import ControlNetSVDModel
from .models.unet_svd import UNetSpatioTemporalControlModel
from .options import (
    DEFAULT_PRECISION,
    DEFAULT_TEMPORAL_CONTEXT,
    SAMPLING,
    Offload,
    PrecisionPlan,
    check_offload,
    check_temporal_context,
)
from .single_file import is_single_file

DEFAULT_SEED = SAMPLING.seed
OUTPUT_TYPES = ("pil", "np", "pt", "latent")
#: diffusers keyword arguments ``from_pretrained`` refuses, with the reason.
_REFUSED_KWARGS = {
    "device_map": "use offload='model' or 'sequential' (or device=) instead",
    "cache_dir": "download the folder first (huggingface-cli download) and pass its path",
    "revision": "download the folder first (huggingface-cli download) and pass its path",
    "token": "download the folder first (huggingface-cli download) and pass its path",
    "local_files_only": "local folders are always read locally; pass the folder path",
    "force_download": "download the folder first (huggingface-cli download) and pass its path",
    "custom_pipeline": "LeviTorPipeline is the pipeline",
}


@dataclass
class LeviTorPipelineOutput(BaseOutput):
    """Frames of the generated video.

    ``frames``: ``"pil"`` → list (batch) of lists of ``F`` PIL images; ``"np"`` → ``(B, F, H, W, 3)``
    float in [0, 1]; ``"pt"`` → ``(B, F, 3, H, W)``; ``"latent"`` → ``(B, F, 4, H/8, W/8)``.
    """

    frames: Any


def guidance_scales(min_guidance_scale: float, max_guidance_scale: float, num_frames: int) -> torch.Tensor:
    """Per-frame classifier-free guidance scale, ``linspace(min, max, F)`` (frame 0 gets ``min``)."""
    return torch.linspace(min_guidance_scale, max_guidance_scale, num_frames)


def image_to_tensor(image: Any) -> torch.Tensor:
    """Convert an input image to a ``(1, 3, H, W)`` float32 tensor in [0, 1].

    Accepts a PIL image, a ``(H, W, 3)`` uint8 (or float in [0, 1]) array, or a torch tensor laid
    out ``(H, W, 3)``, ``(1, H, W, 3)`` (ComfyUI IMAGE), ``(3, H, W)`` or ``(1, 3, H, W)``.
    """
    if isinstance(image, PIL.Image.Image):
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        array = image
        if array.ndim == 4 and array.shape[0] == 1:
            array = array[0]
        if array.ndim != 3 or array.shape[-1] != 3:
            raise ValueError(f"image must be (H, W, 3) RGB, got an array of shape {array.shape}.")
        if array.dtype == np.uint8:
            tensor = torch.from_numpy(np.array(array, dtype=np.float32)) / 255.0
        else:
            tensor = torch.from_numpy(np.array(array, dtype=np.float32))
        tensor = tensor.permute(2, 0, 1)[None]
    elif torch.is_tensor(image):
        tensor = image.detach().to("cpu")
        if tensor.ndim == 3:
            tensor = tensor[None]
        if tensor.ndim != 4 or tensor.shape[0] != 1:
            raise ValueError(f"image tensor must hold one image, got shape {tuple(image.shape)}.")
        if tensor.shape[-1] == 3 and tensor.shape[1] != 3:
            tensor = tensor.permute(0, 3, 1, 2)
        if tensor.shape[1] != 3:
            raise ValueError(f"image tensor must have 3 colour channels, got shape {tuple(image.shape)}.")
        tensor = tensor.float() / 255.0 if tensor.dtype == torch.uint8 else tensor.float()
    else:
        raise ValueError(f"image must be a PIL image, a numpy array or a torch tensor, got {type(image).__name__}.")
    if tensor.numel() and (tensor.min() < -1e-3 or tensor.max() > 1 + 1e-3):
        raise ValueError("image values must lie in [0, 1] (float) or 0..255 (uint8).")
    return tensor.clamp(0, 1).contiguous()


def control_to_tensor(control: Any) -> torch.Tensor:
    """Convert control maps (array, tensor or an object with ``.control``) to ``(F, 3, H, W)`` float32."""
    if hasattr(control, "control") and not torch.is_tensor(control):
        control = control.control
    if isinstance(control, np.ndarray):
        control = torch.from_numpy(np.array(control, dtype=np.float32))
    if not torch.is_tensor(control):
        raise ValueError(
            f"control must be an (F, 3, H, W) array/tensor or a PlanResult, got {type(control).__name__}."
        )
    if control.ndim == 5 and control.shape[0] == 1:
        control = control[0]
    if control.ndim != 4 or control.shape[0] < 1:
        raise ValueError(f"control must have shape (F, 3, H, W), got {tuple(control.shape)}.")
    return control.detach().to("cpu", torch.float32)


class LeviTorPipeline(DiffusionPipeline):
    """Image + LeviTor control maps → video, with SVD-xt and the LeviTor ControlNet.

    Build it with :meth:`from_pretrained` (an SVD-xt folder plus the ControlNet folder or file, or
    a folder written by :meth:`save_pretrained`) or from components. ``controlnet`` may be ``None``
    (plain SVD sampling with the same noise). ``temporal_context`` (default ``"reference"``, the
    original's order) is applied to the UNet and the ControlNet for the duration of each call.
    """

    model_cpu_offload_seq = "image_encoder->controlnet->unet->vae"
    _optional_components = ["controlnet"]
    #: What ``callback_on_step_end`` can be handed (``callback_on_step_end_tensor_inputs``):
    #: ``latents`` (after the step), ``model_output`` (the raw UNet output, both guidance halves,
    #: before guidance), ``noise_pred`` (after guidance), and the step's fixed inputs
    #: ``image_latents`` ``(B, F, 4, h, w)``, ``image_embeddings``, ``added_time_ids``,
    #: ``controlnet_cond`` ``(B, F, 3, H, W)`` and ``guidance_scale`` ``(1, F, 1, 1, 1)``.
    _callback_tensor_inputs = ["latents", "model_output", "noise_pred", "image_latents", "image_embeddings",
                               "added_time_ids", "controlnet_cond", "guidance_scale"]

    def __init__(
        self,
        vae: AutoencoderKLTemporalDecoder,
        image_encoder: Any,
        unet: UNetSpatioTemporalControlModel,
        controlnet: ControlNetSVDModel | None,
        scheduler: EulerDiscreteScheduler,
        feature_extractor: Any,
    ):
        super().__init__()
        if not isinstance(unet, UNetSpatioTemporalControlModel):
            raise ValueError(
                "unet must be a levitor.generation.models.UNetSpatioTemporalControlModel (load the SVD unet/ folder "
                "with UNetSpatioTemporalControlModel.from_pretrained)."
            )
        self.register_modules(
            vae=vae,
            image_encoder=image_encoder,
            unet=unet,
            controlnet=controlnet,
            scheduler=scheduler,
            feature_extractor=feature_extractor,
        )
        for model in (unet, controlnet):
            if model is not None:  # install the switchable temporal blocks before any offload hook wraps them
                model.set_temporal_context(model.temporal_context)
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.video_processor = VideoProcessor(do_resize=False, vae_scale_factor=self.vae_scale_factor)
        self.autocast_dtype: torch.dtype | None = None
        self.offload: str | None = None
        self.temporal_context: str = DEFAULT_TEMPORAL_CONTEXT
        self._interrupt = False

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        svd_path: str | os.PathLike,
        controlnet: str | os.PathLike | ControlNetSVDModel | None = None,
        *,
        torch_dtype: torch.dtype | None = None,
        precision: str = DEFAULT_PRECISION,
        offload: str | None = None,
        device: str | torch.device | None = None,
        variant: str | None = AUTO_VARIANT,
        temporal_context: str = DEFAULT_TEMPORAL_CONTEXT,
        use_safetensors: bool | None = None,
        subfolder: str | None = None,
        low_cpu_mem_usage: bool = True,
        **kwargs: Any,
    ) -> LeviTorPipeline:
        """Load SVD-xt from ``svd_path`` and the LeviTor ControlNet from ``controlnet``.

        Args:
            svd_path: diffusers ``stable-video-diffusion-img2vid-xt`` folder (or its hub id), a
                folder written by :meth:`save_pretrained` (its ``controlnet/`` is loaded too), or
                one SGM-layout file (``svd_xt.safetensors``, as in ComfyUI's ``models/checkpoints``).
            controlnet: LeviTor ``controlnet/`` folder, a single ``.safetensors`` file, a loaded
                :class:`ControlNetSVDModel`, or ``None`` (the saved pipeline's ControlNet if
                ``svd_path`` has one, else plain SVD).
            torch_dtype: hold every component in this dtype (fp32, fp16 or bf16; only with
                ``precision="auto"``).
            precision: ``"auto"`` (``fp16-autocast`` on CUDA, ``fp16`` on MPS, ``fp32`` on CPU),
                ``"fp32"``, ``"fp16"``, ``"bf16"`` or ``"fp16-autocast"`` (fp32 UNet/ControlNet run
                under fp16 autocast, fp16 VAE and image encoder: the original implementation's regime).
            offload: ``None``/``"none"`` (everything on ``device``), ``"model"`` (each model moves to
                the device while it runs) or ``"sequential"`` (weights stream in per layer; least memory).
            device: execution device; default the accelerator torch reports, else the CPU.
            variant: ``"auto"`` uses ``.fp16`` weight files where present; a variant name (``"fp16"``)
                does the same for that variant; both fall back per component to the plain files.
                ``None``: plain files only.
            temporal_context: ``"reference"`` (the original implementation's temporal-attention
                context order) or ``"per-sample"`` (current diffusers); see :mod:`.models.temporal_context`.
            use_safetensors: ``None`` or ``True``; weights are read from safetensors only.
            subfolder: the SVD folder is ``svd_path/subfolder``.
            low_cpu_mem_usage: build the models without memory and take the file's tensors (default).
        """
        for key in kwargs:
            if key in _REFUSED_KWARGS:
                raise ValueError(f"LeviTorPipeline.from_pretrained does not take {key}=: {_REFUSED_KWARGS[key]}.")
        if kwargs:
            raise ValueError(
                f"LeviTorPipeline.from_pretrained got unknown arguments: {', '.join(kwargs)}. It takes controlnet, "
                "torch_dtype, precision, offload, device, variant, temporal_context, use_safetensors, subfolder "
                "and low_cpu_mem_usage."
            )
        if use_safetensors is False:
            raise ValueError("use_safetensors=False is not supported: weights are read from .safetensors files only "
                             "(pickled .bin checkpoints are never loaded).")
        offload = check_offload(offload)
        temporal_context = check_temporal_context(temporal_context)
        device = torch.device(device) if device is not None else default_device()
        plan = resolve_precision(precision, device, torch_dtype)
        parts = load_svd_components(svd_path, plan, variant=variant, subfolder=subfolder,
                                    low_cpu_mem_usage=low_cpu_mem_usage)
        root = Path(os.fspath(svd_path)).expanduser()
        if controlnet is None and not is_single_file(root):
            controlnet = saved_controlnet(root / subfolder if subfolder else root)
        if isinstance(controlnet, ControlNetSVDModel):
            check_controlnet_matches_unet(controlnet.config, parts["unet"].config)
            controlnet = controlnet.to(dtype=plan.denoiser_dtype)
        elif controlnet is not None:
            controlnet = load_controlnet(
                controlnet, dtype=plan.denoiser_dtype, unet_config=parts["unet"].config,
                variant=None if variant == AUTO_VARIANT else variant, low_cpu_mem_usage=low_cpu_mem_usage,
            )
        return cls.assemble(parts, controlnet, plan, offload=offload, device=device, temporal_context=temporal_context)

    @classmethod
    def assemble(cls, parts: dict, controlnet: ControlNetSVDModel | None, plan: PrecisionPlan, *,
                 offload: str | None = None, device: str | torch.device | None = None,
                 temporal_context: str = DEFAULT_TEMPORAL_CONTEXT) -> LeviTorPipeline:
        """A pipeline from loaded components (``unet``, ``vae``, ``image_encoder``,
        ``feature_extractor``, ``scheduler``) placed as ``plan`` and ``offload`` say; the last
        step of every loader (folders here, single checkpoint files elsewhere)."""
        pipe = cls(controlnet=controlnet, **parts)
        pipe.temporal_context = check_temporal_context(temporal_context)
        pipe.configure(plan, offload=check_offload(offload), device=device)
        return pipe

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write the pipeline in the diffusers layout (``model_index.json`` lists ``controlnet/``).

        Each component is written completely before it replaces the one of an earlier save;
        other files in ``save_directory`` are left alone. Keyword arguments go to diffusers'
        ``save_pretrained`` (``variant``, ``safe_serialization`` must stay true).
        """
        if kwargs.get("safe_serialization", True) is False:
            raise ValueError("safe_serialization=False is not supported: the pipeline is saved as safetensors.")
        if kwargs.get("push_to_hub"):
            raise ValueError("push_to_hub is not supported: save to a folder and upload it with huggingface-cli.")
        target = Path(os.fspath(save_directory)).absolute()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
        try:
            super().save_pretrained(tmp, safe_serialization=True, **kwargs)
            target.mkdir(exist_ok=True)
            for entry in sorted(tmp.iterdir(), key=lambda e: e.name == "model_index.json"):  # the index last
                dest = target / entry.name
                if dest.is_dir():
                    shutil.rmtree(dest)
                os.replace(entry, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def configure(self, plan: PrecisionPlan | None = None, *, offload: str | None = None,
                  device: str | torch.device | None = None) -> LeviTorPipeline:
        """Set the autocast regime of ``plan`` and place the models (``offload`` None/model/sequential)."""
        device = torch.device(device) if device is not None else default_device()
        if plan is not None:
            self.autocast_dtype = plan.autocast_dtype
        offload = check_offload(offload)
        self.offload = offload
        if offload == Offload.MODEL.value:
            self.enable_model_cpu_offload(device=device)
        elif offload == Offload.SEQUENTIAL.value:
            if device.type == "cpu":
                # diffusers would use "cpu:0", which accelerate's parameter swap does not accept;
                # the same hooks with the plain CPU device keep weights on "meta" between layers.
                self.remove_all_hooks()
                for model in self.components.values():
                    if isinstance(model, torch.nn.Module):
                        cpu_offload(model.to("cpu"), torch.device("cpu"), offload_buffers=len(model._parameters) > 0)
            else:
                self.enable_sequential_cpu_offload(device=device)
        else:
            self.to(device)
        return self

    # ------------------------------------------------------------------ stages
    def check_inputs(
        self,
        image: Any,
        control: Any,
        *,
        num_inference_steps: int,
        min_guidance_scale: float,
        max_guidance_scale: float,
        fps: int,
        motion_bucket_id: int,
        noise_aug_strength: float,
        control_scale: float,
        decode_chunk_size: int | None,
        output_type: str,
        temporal_context: str,
        generator: Any,
        callback_on_step_end_tensor_inputs: Any = ("latents",),
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Generator | None]:
        """Validate every argument of a call; return the image ``(1, 3, H, W)``, the control maps
        ``(F, 3, H, W)`` and the one generator (or None). Raises ``ValueError`` naming the input."""
        if isinstance(callback_on_step_end_tensor_inputs, str) or any(
                k not in self._callback_tensor_inputs for k in callback_on_step_end_tensor_inputs):
            raise ValueError(
                f"callback_on_step_end_tensor_inputs must be a list of names from {self._callback_tensor_inputs}, "
                f"got {callback_on_step_end_tensor_inputs!r}.")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {', '.join(map(repr, OUTPUT_TYPES))}; got {output_type!r}.")
        check_temporal_context(temporal_context)
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, numbers.Integral) \
                or num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be a whole number >= 1, got {num_inference_steps!r}.")
        for name, value in (("min_guidance_scale", min_guidance_scale), ("max_guidance_scale", max_guidance_scale),
                            ("noise_aug_strength", noise_aug_strength), ("control_scale", control_scale),
                            ("fps", fps), ("motion_bucket_id", motion_bucket_id)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}.")
        if noise_aug_strength < 0:
            raise ValueError(f"noise_aug_strength must be >= 0, got {noise_aug_strength}.")
        if decode_chunk_size is not None and (not isinstance(decode_chunk_size, numbers.Integral) or decode_chunk_size < 1):
            raise ValueError(f"decode_chunk_size must be >= 1 or None, got {decode_chunk_size!r}.")
        if isinstance(generator, (list, tuple)):
            if len(generator) != 1:
                raise ValueError(f"pass one torch.Generator (one video per call), got a list of {len(generator)}.")
            generator = generator[0]
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}.")
        image_t = image_to_tensor(image)
        control_t = control_to_tensor(control)
        channels, height, width = control_t.shape[1:]
        if (height, width) != tuple(image_t.shape[-2:]):
            raise ValueError(
                f"The image is {image_t.shape[-1]}x{image_t.shape[-2]} (W x H) but the control maps are "
                f"{width}x{height}; plan on the same image that is passed to the sampler."
            )
        if height % self.vae_scale_factor or width % self.vae_scale_factor:
            raise ValueError(
                f"Image size {width}x{height} (W x H) must be a multiple of {self.vae_scale_factor} in both "
                "directions (e.g. 288x512); resize the image before planning."
            )
        if self.controlnet is not None and channels != self.controlnet.config.conditioning_channels:
            raise ValueError(
                f"control has {channels} channels but the ControlNet expects "
                f"{self.controlnet.config.conditioning_channels} ([heatmap, id, depth])."
            )
        return image_t, control_t, generator

    def encode_image(self, image: torch.Tensor, num_frames: int, *, noise_aug_strength: float,
                     generator: torch.Generator | None, do_cfg: bool,
                     device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """CLIP embedding ``(B, 1, D)`` and image latents ``(B, F, 4, h, w)`` of ``image`` in [0, 1].

        ``B`` is 2 with guidance (batch order ``[uncond, cond]``, zeros for the unconditional half).
        The noise augmentation is the generator's first draw.
        """
        pixels = image * 2.0 - 1.0
        embeds = encode_clip_image(self.image_encoder, self.feature_extractor, pixels, device=device)
        latents = encode_first_frame_latents(self.vae, pixels, noise_aug_strength, generator=generator, device=device,
                                             upcast=self.offload != Offload.SEQUENTIAL.value).to(embeds.dtype)
        if do_cfg:
            embeds = torch.cat([torch.zeros_like(embeds), embeds])
            latents = torch.cat([torch.zeros_like(latents), latents])
        return embeds, latents.unsqueeze(1).repeat(1, num_frames, 1, 1, 1)

    def prepare_latents(self, num_frames: int, height: int, width: int, *, dtype: torch.dtype,
                        device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
        """Initial latents ``(1, F, 4, H/8, W/8)`` × ``init_noise_sigma``: the generator's second draw."""
        shape = (1, num_frames, self.unet.config.in_channels // 2,
                 height // self.vae_scale_factor, width // self.vae_scale_factor)
        latents = draw_noise(shape, generator, dtype=dtype).to(device)
        return latents * self.scheduler.init_noise_sigma

    def _autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

    def predict(self, model_in: torch.Tensor, t: torch.Tensor, *, embeds: torch.Tensor, time_ids: torch.Tensor,
                cond: torch.Tensor, control_scale: float, device: torch.device) -> torch.Tensor:
        """One model evaluation: ControlNet residuals (when there is a ControlNet) into the UNet."""
        residuals = {}
        with self._autocast(device):
            if self.controlnet is not None:
                down, mid = self.controlnet(
                    model_in, t, encoder_hidden_states=embeds, added_time_ids=time_ids,
                    controlnet_cond=cond, conditioning_scale=control_scale, return_dict=False,
                )
                if self.autocast_dtype is not None:  # autocast models hand fp32 outputs on
                    down, mid = tuple(d.float() for d in down), mid.float()
                residuals = dict(down_block_additional_residuals=down, mid_block_additional_residual=mid)
            pred = self.unet(model_in, t, encoder_hidden_states=embeds, added_time_ids=time_ids,
                             return_dict=False, **residuals)[0]
        return pred.float() if self.autocast_dtype is not None else pred

    def denoise(self, latents: torch.Tensor, *, image_latents: torch.Tensor, embeds: torch.Tensor,
                time_ids: torch.Tensor, cond: torch.Tensor, guidance: torch.Tensor, control_scale: float,
                timesteps: torch.Tensor, device: torch.device,
                callback_on_step_end: Callable | None = None,
                callback_on_step_end_tensor_inputs: tuple[str, ...] | list[str] = ("latents",)) -> torch.Tensor:
        """The Euler loop over ``timesteps`` (set on the scheduler) with per-frame classifier-free
        guidance; returns the final latents. After each step ``callback_on_step_end`` gets the
        tensors named in ``callback_on_step_end_tensor_inputs`` (see ``_callback_tensor_inputs``)."""
        do_cfg = embeds.shape[0] == 2
        self._num_timesteps = len(timesteps)
        with self.progress_bar(total=len(timesteps)) as progress:
            for i, t in enumerate(timesteps):
                if self._interrupt:
                    break
                model_in = torch.cat([latents] * 2) if do_cfg else latents
                model_in = self.scheduler.scale_model_input(model_in, t)
                model_in = torch.cat([model_in, image_latents.to(model_in.dtype)], dim=2)
                model_output = self.predict(model_in, t, embeds=embeds, time_ids=time_ids, cond=cond,
                                            control_scale=control_scale, device=device)
                pred = model_output
                if do_cfg:
                    uncond, cond_pred = model_output.chunk(2)
                    pred = uncond + guidance.to(pred.dtype) * (cond_pred - uncond)
                latents = self.scheduler.step(pred, t, latents).prev_sample
                if callback_on_step_end is not None:
                    available = dict(latents=latents, model_output=model_output, noise_pred=pred,
                                     image_latents=image_latents, image_embeddings=embeds, added_time_ids=time_ids,
                                     controlnet_cond=cond, guidance_scale=guidance)
                    out = callback_on_step_end(self, i, t, {k: available[k] for k in callback_on_step_end_tensor_inputs})
                    if out:
                        latents = out.pop("latents", latents)
                progress.update()
        return latents

    def decode_latents(self, latents: torch.Tensor, num_frames: int, decode_chunk_size: int) -> torch.Tensor:
        """Decode ``(B, F, 4, h, w)`` latents to ``(B, 3, F, H, W)`` float32 in [-1, 1], ``decode_chunk_size`` frames at a time."""
        latents = latents.flatten(0, 1) / self.vae.config.scaling_factor
        frames = []
        for i in range(0, latents.shape[0], decode_chunk_size):
            chunk = latents[i : i + decode_chunk_size].to(self.vae.dtype)
            frames.append(self.vae.decode(chunk, num_frames=chunk.shape[0]).sample)
        video = torch.cat(frames).reshape(-1, num_frames, *frames[0].shape[1:]).permute(0, 2, 1, 3, 4)
        return video.float()

    def decode(self, latents: torch.Tensor, *, decode_chunk_size: int | None, output_type: str) -> Any:
        """Frames in ``output_type`` from the final latents (``"latent"`` returns them unchanged)."""
        if output_type == "latent":
            return latents
        num_frames = latents.shape[1]
        video = self.decode_latents(latents, num_frames, decode_chunk_size or num_frames)
        return self.video_processor.postprocess_video(video=video, output_type=output_type)

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(
        self,
        image: Any,
        control: Any,
        *,
        num_inference_steps: int = SAMPLING.num_inference_steps,
        min_guidance_scale: float = SAMPLING.min_guidance_scale,
        max_guidance_scale: float = SAMPLING.max_guidance_scale,
        fps: int = SAMPLING.fps,
        motion_bucket_id: int = SAMPLING.motion_bucket_id,
        noise_aug_strength: float = SAMPLING.noise_aug_strength,
        control_scale: float = SAMPLING.control_scale,
        decode_chunk_size: int | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = SAMPLING.seed,
        output_type: str = "pil",
        temporal_context: str | None = None,
        callback_on_step_end: Callable[[LeviTorPipeline, int, Any, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: list[str] | None = None,
        return_dict: bool = True,
        controlnet_cond_scale: float | None = None,
    ) -> LeviTorPipelineOutput | tuple:
        """Generate ``F`` frames in which the objects follow the control maps.

        Args:
            image: start image (PIL, ``(H, W, 3)`` uint8 array or torch tensor, see :func:`image_to_tensor`).
            control: ``(F, 3, H, W)`` control maps (array/tensor) or a ``PlanResult``; ``H, W`` must
                equal the image size and be multiples of 8.
            num_inference_steps: Euler steps (25).
            min_guidance_scale, max_guidance_scale: per-frame CFG scale ``linspace(min, max, F)``;
                ``max <= 1`` disables guidance (one UNet batch).
            fps: frame rate; the model is conditioned on ``fps - 1``.
            motion_bucket_id: SVD motion conditioning (100).
            noise_aug_strength: noise added to the conditioning image (0.02).
            control_scale: multiplies every ControlNet residual (1.0).
            decode_chunk_size: frames decoded per VAE call (default: all).
            generator: torch generator for the two noise draws; default a CPU generator seeded with ``seed``.
            seed: used when ``generator`` is None (217); ``None`` draws from the global RNG.
            output_type: ``"pil"``, ``"np"``, ``"pt"`` or ``"latent"``.
            temporal_context: ``"reference"`` or ``"per-sample"`` for this call (default: the
                pipeline's ``temporal_context``, ``"reference"`` unless set otherwise).
            callback_on_step_end: ``fn(pipe, step, timestep, {"latents": ...}) -> dict`` after every
                step; returning ``{"latents": x}`` replaces the latents; set ``pipe._interrupt = True``
                (or raise) to stop: the remaining steps are skipped.
            callback_on_step_end_tensor_inputs: the names handed to the callback (default
                ``["latents"]``); any of ``_callback_tensor_inputs``, e.g. ``"model_output"`` (the raw
                UNet output of both guidance halves) or ``"image_embeddings"``.
            return_dict: return :class:`LeviTorPipelineOutput` instead of a tuple.
            controlnet_cond_scale: former name of ``control_scale`` (deprecated).
        """
        if controlnet_cond_scale is not None:
            warnings.warn("controlnet_cond_scale is deprecated; pass control_scale", DeprecationWarning, stacklevel=2)
            if control_scale not in (SAMPLING.control_scale, controlnet_cond_scale):
                raise ValueError("pass control_scale only (controlnet_cond_scale is its former name).")
            control_scale = controlnet_cond_scale
        temporal_context = self.temporal_context if temporal_context is None else temporal_context
        tensor_inputs = ["latents"] if callback_on_step_end_tensor_inputs is None else callback_on_step_end_tensor_inputs
        image_t, control_t, generator = self.check_inputs(
            image, control, num_inference_steps=num_inference_steps, min_guidance_scale=min_guidance_scale,
            max_guidance_scale=max_guidance_scale, fps=fps, motion_bucket_id=motion_bucket_id,
            noise_aug_strength=noise_aug_strength, control_scale=control_scale,
            decode_chunk_size=decode_chunk_size, output_type=output_type, temporal_context=temporal_context,
            generator=generator, callback_on_step_end_tensor_inputs=tensor_inputs,
        )
        num_frames, _, height, width = control_t.shape
        self._interrupt = False
        device = self._execution_device
        do_cfg = max_guidance_scale > 1.0
        if generator is None and seed is not None:
            generator = torch.Generator("cpu").manual_seed(int(seed))

        with contextlib.ExitStack() as stack:
            for model in (self.unet, self.controlnet):
                if model is not None:
                    stack.enter_context(model.temporal_context_as(temporal_context))
            embeds, image_latents = self.encode_image(image_t, num_frames, noise_aug_strength=noise_aug_strength,
                                                      generator=generator, do_cfg=do_cfg, device=device)
            dtype = embeds.dtype
            time_ids = added_time_ids(fps, motion_bucket_id, noise_aug_strength, embeds.shape[0], dtype=dtype,
                                      device=device)
            cond = control_t[None].to(device=device, dtype=dtype).repeat(embeds.shape[0], 1, 1, 1, 1)
            self.scheduler.set_timesteps(num_inference_steps, device=device)  # sets init_noise_sigma too
            latents = self.prepare_latents(num_frames, height, width, dtype=dtype, device=device, generator=generator)
            guidance = guidance_scales(min_guidance_scale, max_guidance_scale, num_frames)
            guidance = guidance.to(device, latents.dtype).view(1, num_frames, 1, 1, 1)
            latents = self.denoise(latents, image_latents=image_latents, embeds=embeds, time_ids=time_ids, cond=cond,
                                   guidance=guidance, control_scale=control_scale,
                                   timesteps=self.scheduler.timesteps, device=device,
                                   callback_on_step_end=callback_on_step_end,
                                   callback_on_step_end_tensor_inputs=tensor_inputs)
        frames = self.decode(latents, decode_chunk_size=decode_chunk_size, output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return LeviTorPipelineOutput(frames=frames)

    @classmethod
    def from_single_file(
        cls,
        path: str | os.PathLike,
        controlnet: str | os.PathLike | ControlNetSVDModel | None = None,
        **kwargs: Any,
    ) -> LeviTorPipeline:
        """Load SVD-xt from one SGM-layout file (``svd_xt.safetensors``): diffusers' name for
        :meth:`from_pretrained`, which reads files and folders alike (same arguments)."""
        if not is_single_file(path):
            raise ValueError(f"{os.fspath(path)!r} is not a file; load an SVD folder with from_pretrained.")
        return cls.from_pretrained(path, controlnet, **kwargs)
