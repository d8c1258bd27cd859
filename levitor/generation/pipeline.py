"""LeviTor sampling: Stable Video Diffusion (SVD-xt) steered by a ControlNet on per-frame control maps.

:class:`LeviTorPipeline` takes the start image and the ``(F, 3, H, W)`` control maps of a plan
(:class:`levitor.planning.plan.PlanResult` or a plain array) and returns ``F`` frames. Sampling follows the
original implementation: Euler (Karras σ, v-prediction, continuous timesteps) from the SVD folder's
scheduler config, classifier-free guidance with a per-frame scale ``linspace(min, max, F)``, the
ControlNet applied to both guidance halves, and the noise drawn from one CPU generator in a fixed
order (noise augmentation first, then the initial latents) so a seed gives the same video on any
device.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKLTemporalDecoder, DiffusionPipeline, EulerDiscreteScheduler
from diffusers.utils import BaseOutput
from diffusers.video_processor import VideoProcessor

from .loading import (OFFLOAD_MODES, PrecisionPlan, check_controlnet_matches_unet, default_device, load_controlnet,
                      load_svd_components, resolve_precision)
from .models import ControlNetSVDModel, UNetSpatioTemporalControlModel
from .single_file import is_single_file, load_controlnet_file, load_single_file

DEFAULT_SEED = 217


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

    Build it with :meth:`from_pretrained` (an SVD-xt folder plus the ControlNet folder or file) or
    from components. ``controlnet`` may be ``None`` (plain SVD sampling with the same noise).
    """

    model_cpu_offload_seq = "image_encoder->controlnet->unet->vae"
    _optional_components = ["controlnet"]
    _callback_tensor_inputs = ["latents"]

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
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.video_processor = VideoProcessor(do_resize=False, vae_scale_factor=self.vae_scale_factor)
        self.autocast_dtype: torch.dtype | None = None
        self.offload: str | None = None
        self._interrupt = False

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        svd_path: str | os.PathLike,
        controlnet: str | os.PathLike | ControlNetSVDModel | None = None,
        *,
        torch_dtype: torch.dtype | None = None,
        precision: str = "auto",
        offload: str | None = None,
        device: str | torch.device | None = None,
        variant: str | None = "auto",
        **kwargs: Any,
    ) -> "LeviTorPipeline":
        """Load SVD-xt from ``svd_path`` and the LeviTor ControlNet from ``controlnet``.

        Args:
            svd_path: diffusers ``stable-video-diffusion-img2vid-xt`` folder (or its hub id).
            controlnet: LeviTor ``controlnet/`` folder, a single ``.safetensors`` file, a loaded
                :class:`ControlNetSVDModel`, or ``None`` for plain SVD.
            torch_dtype: hold every component in this dtype (only with ``precision="auto"``).
            precision: ``"auto"`` (``fp16-autocast`` on CUDA, ``fp16`` on MPS, ``fp32`` on CPU),
                ``"fp32"``, ``"fp16"``, ``"bf16"`` or ``"fp16-autocast"`` (fp32 UNet/ControlNet run
                under fp16 autocast, fp16 VAE and image encoder: the original implementation's regime).
            offload: ``None`` (everything on ``device``), ``"model"`` (each model moves to the
                device while it runs) or ``"sequential"`` (weights stream in per layer; least memory).
            device: execution device; default CUDA, then MPS, then CPU.
            variant: ``"auto"`` uses ``.fp16`` weight files where present; or a variant name / ``None``.
        """
        if kwargs:
            raise ValueError(f"LeviTorPipeline.from_pretrained got unknown arguments: {', '.join(kwargs)}.")
        if offload not in OFFLOAD_MODES:
            raise ValueError(f"offload must be None, 'model' or 'sequential'; got {offload!r}.")
        device = torch.device(device) if device is not None else default_device()
        plan = resolve_precision(precision, device, torch_dtype)
        parts = load_svd_components(svd_path, plan, variant=variant)
        if controlnet is not None and not isinstance(controlnet, ControlNetSVDModel):
            controlnet = load_controlnet(controlnet, dtype=plan.denoiser_dtype, unet_config=parts["unet"].config)
        elif controlnet is not None:
            controlnet = controlnet.to(dtype=plan.denoiser_dtype)
        pipe = cls(controlnet=controlnet, **parts)
        pipe.configure(plan, offload=offload, device=device)
        return pipe

    def configure(self, plan: PrecisionPlan | None = None, *, offload: str | None = None,
                  device: str | torch.device | None = None) -> "LeviTorPipeline":
        """Set the autocast regime of ``plan`` and place the models (``offload`` None/model/sequential)."""
        device = torch.device(device) if device is not None else default_device()
        if plan is not None:
            self.autocast_dtype = plan.autocast_dtype
        offload = None if offload == "none" else offload
        if offload not in (None, "model", "sequential"):
            raise ValueError(f"offload must be None, 'model' or 'sequential'; got {offload!r}.")
        self.offload = offload
        if offload == "model":
            self.enable_model_cpu_offload(device=device)
        elif offload == "sequential":
            if device.type == "cpu":
                # diffusers would use "cpu:0", which accelerate's parameter swap does not accept;
                # the same hooks with the plain CPU device keep weights on "meta" between layers.
                from accelerate import cpu_offload

                self.remove_all_hooks()
                for model in self.components.values():
                    if isinstance(model, torch.nn.Module):
                        cpu_offload(model.to("cpu"), torch.device("cpu"), offload_buffers=len(model._parameters) > 0)
            else:
                self.enable_sequential_cpu_offload(device=device)
        else:
            self.to(device)
        return self

    # ------------------------------------------------------------------ conditioning
    def _clip_embedding(self, image: torch.Tensor, device: torch.device) -> torch.Tensor:
        """CLIP image embedding ``(1, 1, D)``: antialiased resize to 224 then CLIP normalisation."""
        from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import (
            _resize_with_antialiasing,
        )

        dtype = next(self.image_encoder.parameters()).dtype
        x = _resize_with_antialiasing(image * 2.0 - 1.0, (224, 224))
        x = (x + 1.0) / 2.0
        pixels = self.feature_extractor(
            images=x, do_normalize=True, do_center_crop=False, do_resize=False, do_rescale=False,
            return_tensors="pt",
        ).pixel_values
        embeds = self.image_encoder(pixels.to(device=device, dtype=dtype)).image_embeds
        return embeds.unsqueeze(1)

    def _vae_image_latents(self, image: torch.Tensor, device: torch.device) -> torch.Tensor:
        """VAE latent mode ``(1, 4, h, w)`` of an image in [-1, 1] (fp32 encode when the VAE asks for it)."""
        vae_dtype = self.vae.dtype
        upcast = vae_dtype in (torch.float16, torch.bfloat16) and self.vae.config.force_upcast and self.offload != "sequential"
        if upcast:
            self.vae.to(dtype=torch.float32)
        try:
            latents = self.vae.encode(image.to(device=device, dtype=self.vae.dtype)).latent_dist.mode()
        finally:
            if upcast:
                self.vae.to(dtype=vae_dtype)
        return latents

    def _autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)

    def decode_latents(self, latents: torch.Tensor, num_frames: int, decode_chunk_size: int) -> torch.Tensor:
        """Decode ``(B, F, 4, h, w)`` latents to ``(B, 3, F, H, W)`` float32 in [-1, 1], ``decode_chunk_size`` frames at a time."""
        latents = latents.flatten(0, 1) / self.vae.config.scaling_factor
        frames = []
        for i in range(0, latents.shape[0], decode_chunk_size):
            chunk = latents[i : i + decode_chunk_size].to(self.vae.dtype)
            frames.append(self.vae.decode(chunk, num_frames=chunk.shape[0]).sample)
        video = torch.cat(frames).reshape(-1, num_frames, *frames[0].shape[1:]).permute(0, 2, 1, 3, 4)
        return video.float()

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
        num_inference_steps: int = 25,
        min_guidance_scale: float = 1.0,
        max_guidance_scale: float = 3.0,
        fps: int = 6,
        motion_bucket_id: int = 100,
        noise_aug_strength: float = 0.02,
        controlnet_cond_scale: float = 1.0,
        decode_chunk_size: int | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = DEFAULT_SEED,
        output_type: str = "pil",
        callback_on_step_end: Callable[["LeviTorPipeline", int, Any, dict], dict] | None = None,
        return_dict: bool = True,
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
            controlnet_cond_scale: multiplies every ControlNet residual (1.0).
            decode_chunk_size: frames decoded per VAE call (default: all).
            generator: torch generator for the two noise draws; default a CPU generator seeded with ``seed``.
            seed: used when ``generator`` is None (217); ``None`` draws from the global RNG.
            output_type: ``"pil"``, ``"np"``, ``"pt"`` or ``"latent"``.
            callback_on_step_end: ``fn(pipe, step, timestep, {"latents": ...}) -> dict`` after every
                step; returning ``{"latents": x}`` replaces the latents; set ``pipe._interrupt = True``
                (or raise) to stop: the remaining steps are skipped.
            return_dict: return :class:`LeviTorPipelineOutput` instead of a tuple.
        """
        if output_type not in ("pil", "np", "pt", "latent"):
            raise ValueError(f"output_type must be 'pil', 'np', 'pt' or 'latent'; got {output_type!r}.")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be >= 1, got {num_inference_steps}.")
        image_t = image_to_tensor(image)
        control_t = control_to_tensor(control)
        num_frames, channels, height, width = control_t.shape
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
        if decode_chunk_size is not None and decode_chunk_size < 1:
            raise ValueError(f"decode_chunk_size must be >= 1 or None, got {decode_chunk_size}.")
        decode_chunk_size = decode_chunk_size or num_frames

        self._interrupt = False
        device = self._execution_device
        do_cfg = max_guidance_scale > 1.0
        if isinstance(generator, (list, tuple)):
            if len(generator) != 1:
                raise ValueError(f"pass one torch.Generator (one video per call), got a list of {len(generator)}.")
            generator = generator[0]
        if generator is None and seed is not None:
            generator = torch.Generator("cpu").manual_seed(int(seed))
        gen_device = generator.device if generator is not None else torch.device("cpu")

        # 1. CLIP embedding (zeros for the unconditional half, batch order [uncond, cond]).
        embeds = self._clip_embedding(image_t, device)
        emb_dtype = embeds.dtype
        if do_cfg:
            embeds = torch.cat([torch.zeros_like(embeds), embeds])

        # 2. Noise-augmented VAE latents of the image. First draw of the generator.
        vae_in = image_t * 2.0 - 1.0
        noise = torch.randn(vae_in.shape, generator=generator, device=gen_device, dtype=torch.float32)
        vae_in = vae_in + noise_aug_strength * noise.to(vae_in.device)
        image_latents = self._vae_image_latents(vae_in, device).to(emb_dtype)
        if do_cfg:
            image_latents = torch.cat([torch.zeros_like(image_latents), image_latents])
        image_latents = image_latents.unsqueeze(1).repeat(1, num_frames, 1, 1, 1)

        # 3. Micro-conditioning; SVD was trained on fps - 1.
        add_time_ids = torch.tensor([[fps - 1, motion_bucket_id, noise_aug_strength]], dtype=emb_dtype)
        add_time_ids = add_time_ids.repeat(2 if do_cfg else 1, 1).to(device)

        # 4. Control maps, identical for both halves.
        cond = control_t[None].to(device=device, dtype=emb_dtype)
        if do_cfg:
            cond = torch.cat([cond, cond])

        # 5. Timesteps and initial latents. Second (and last) draw of the generator.
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        latent_channels = self.unet.config.in_channels // 2
        shape = (1, num_frames, latent_channels, height // self.vae_scale_factor, width // self.vae_scale_factor)
        latents = torch.randn(shape, generator=generator, device=gen_device, dtype=emb_dtype).to(device)
        latents = latents * self.scheduler.init_noise_sigma

        # 6. Per-frame guidance (1, F, 1, 1, 1).
        guidance = guidance_scales(min_guidance_scale, max_guidance_scale, num_frames)
        guidance = guidance.to(device, latents.dtype).view(1, num_frames, 1, 1, 1)

        self._num_timesteps = len(timesteps)
        with self.progress_bar(total=len(timesteps)) as progress:
            for i, t in enumerate(timesteps):
                if self._interrupt:
                    break
                model_in = torch.cat([latents] * 2) if do_cfg else latents
                model_in = self.scheduler.scale_model_input(model_in, t)
                model_in = torch.cat([model_in, image_latents.to(model_in.dtype)], dim=2)
                residuals = {}
                with self._autocast(device):
                    if self.controlnet is not None:
                        down, mid = self.controlnet(
                            model_in, t, encoder_hidden_states=embeds, added_time_ids=add_time_ids,
                            controlnet_cond=cond, conditioning_scale=controlnet_cond_scale, return_dict=False,
                        )
                        if self.autocast_dtype is not None:  # autocast models hand fp32 outputs on
                            down, mid = tuple(d.float() for d in down), mid.float()
                        residuals = dict(down_block_additional_residuals=down, mid_block_additional_residual=mid)
                    pred = self.unet(
                        model_in, t, encoder_hidden_states=embeds, added_time_ids=add_time_ids,
                        return_dict=False, **residuals,
                    )[0]
                if self.autocast_dtype is not None:
                    pred = pred.float()
                if do_cfg:
                    uncond, cond_pred = pred.chunk(2)
                    pred = uncond + guidance.to(pred.dtype) * (cond_pred - uncond)
                latents = self.scheduler.step(pred, t, latents).prev_sample
                if callback_on_step_end is not None:
                    out = callback_on_step_end(self, i, t, {"latents": latents})
                    if out:
                        latents = out.pop("latents", latents)
                progress.update()

        if output_type == "latent":
            frames = latents
        else:
            video = self.decode_latents(latents, num_frames, decode_chunk_size)
            frames = self.video_processor.postprocess_video(video=video, output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return LeviTorPipelineOutput(frames=frames)

    @classmethod
    def from_single_file(
        cls,
        path: str | os.PathLike,
        controlnet: str | os.PathLike | ControlNetSVDModel | None = None,
        *,
        torch_dtype: torch.dtype | None = None,
        precision: str = "auto",
        offload: str | None = None,
        device: str | torch.device | None = None,
    ) -> "LeviTorPipeline":
        """Load SVD-xt from one SGM-layout file (``svd_xt.safetensors``, as in ComfyUI's ``models/checkpoints``).

        The UNet, VAE and CLIP image encoder are converted to the diffusers modules in memory with a
        strict key check (:func:`levitor.generation.single_file.load_single_file`); the other
        arguments are those of :meth:`from_pretrained`.
        """
        device = torch.device(device) if device is not None else default_device()
        plan = resolve_precision(precision, device, torch_dtype)
        parts = load_single_file(path, plan)
        if is_single_file(controlnet or "") and not isinstance(controlnet, ControlNetSVDModel):
            controlnet = load_controlnet_file(controlnet, dtype=plan.denoiser_dtype)  # architecture from its shapes
            check_controlnet_matches_unet(controlnet.config, parts["unet"].config)
        elif controlnet is not None and not isinstance(controlnet, ControlNetSVDModel):
            controlnet = load_controlnet(controlnet, dtype=plan.denoiser_dtype, unet_config=parts["unet"].config)
        controlnet = None if controlnet is None else controlnet.to(dtype=plan.denoiser_dtype)
        return cls(controlnet=controlnet, **parts).configure(plan, offload=offload, device=device)
