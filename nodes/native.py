"""LeviTor on ComfyUI's own SVD: the ControlNet as a native control for core ``KSampler`` graphs.

* ``LeviTorControlNetLoader`` reads the released ControlNet from ``models/controlnet`` (one
  diffusers-layout ``.safetensors`` file under any name, fp32/fp16/bf16, or the diffusers folder)
  into the library's one ``ControlNetSVDModel``. Its ``nn.Linear``/``Conv``/norm layers are switched
  to ComfyUI's casting layer classes (``comfy.ops``, the same parameters and maths), and a
  ``ModelPatcher`` holds it, so ComfyUI's memory manager loads, casts, partially loads
  (``--lowvram``) or streams (``--novram``) it together with the UNet.
* ``LeviTorApplyControlNet`` puts a ``comfy.controlnet.ControlBase`` on both CFG halves. At each
  step it gives the ControlNet what ComfyUI's UNet gets (scaled noisy latents + ``c_concat``,
  timestep, CLIP context, the fps/motion/augmentation ``y``, the frame count) plus the raw control
  maps, and returns the 12 skip residuals and the middle residual where ComfyUI's UNet adds them.
* ``LeviTorSVDConditioning`` is the original pipeline's conditioning on ComfyUI types (optional;
  the core ``SVD_img2vid_Conditioning`` works too).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from levitor.generation.conditioning import resize_for_clip
from levitor.generation.loading import load_controlnet
from levitor.generation.models.unet_svd import run_encoder
from levitor.generation.options import SAMPLING
from levitor.generation.pipeline import DEFAULT_SEED, control_to_tensor

from . import host
from .api import Control, io
from .sockets import CATEGORY

CONTROLNET = "LEVITOR_CONTROLNET"
NO_CONTROLNET = "(no LeviTor ControlNet in models/controlnet)"
LATENT_SCALE = 8


@dataclass
class NativeControlNet:
    """The loaded ControlNet, its ``ModelPatcher`` and the dtype it computes in."""

    net: Any  # levitor.generation.models.ControlNetSVDModel
    patcher: Any  # comfy.model_patcher.ModelPatcher
    compute_dtype: torch.dtype
    name: str


# --------------------------------------------------------------------------- the network
def controlnet_residuals(net, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, y: torch.Tensor,
                         hint: torch.Tensor, num_frames: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Residuals of ``ControlNetSVDModel`` from ComfyUI's per-frame inputs.

    ``sample`` ``(N, 8, h, w)`` (N = videos × frames), ``timestep`` ``(N,)`` continuous, ``context``
    ``(N, 1, D)``, ``y`` ``(N, 3·E)``: the fps/motion/augmentation ids already embedded (ComfyUI embeds
    them with the same sinusoid as the model's ``add_time_proj``), ``hint`` ``(N, 3, 8h, 8w)`` raw maps.
    Returns the 12 skip residuals in skip order and the middle residual, unscaled.
    """
    dtype = sample.dtype
    emb = net.time_embedding(net.time_proj(timestep).to(dtype)) + net.add_embedding(y.to(dtype))
    x = net.conv_in(sample)
    x = x + net.controlnet_cond_embedding(hint.to(dtype))
    indicator = torch.zeros(sample.shape[0] // num_frames, num_frames, dtype=dtype, device=sample.device)
    x, skips = run_encoder(net, x, emb, context, indicator)
    return [conv(s) for s, conv in zip(skips, net.controlnet_down_blocks)], net.controlnet_mid_block(x)


def use_comfy_ops(net: torch.nn.Module, operations) -> torch.nn.Module:
    """Switch the layers of ``net`` to ComfyUI's casting classes in place (same parameters, same maths).

    ``operations`` is ``comfy.ops.disable_weight_init`` or ``comfy.ops.manual_cast``: their layers are
    subclasses of the torch ones that can compute with weights cast (and, in low-VRAM modes, moved)
    per call. The blend factors of the temporal layers move to the input's device when used.
    """
    from diffusers.models.resnet import AlphaBlender

    table = {torch.nn.Linear: operations.Linear, torch.nn.Conv2d: operations.Conv2d,
             torch.nn.Conv3d: operations.Conv3d, torch.nn.GroupNorm: operations.GroupNorm,
             torch.nn.LayerNorm: operations.LayerNorm, AlphaBlender: DeviceAlphaBlender}
    for module in net.modules():
        new = table.get(type(module))
        if new is not None:
            module.__class__ = new
    return net


def _device_alpha_blender():
    from diffusers.models.resnet import AlphaBlender

    class _DeviceAlphaBlender(AlphaBlender):
        """``AlphaBlender`` whose one-number blend factor follows the activations' device (it stays on
        the offload device when ComfyUI loads the model partially)."""

        def get_alpha(self, image_only_indicator, ndims):
            stored = self._parameters.get("mix_factor")
            if stored is None or image_only_indicator is None or stored.device == image_only_indicator.device:
                return super().get_alpha(image_only_indicator, ndims)
            self._parameters["mix_factor"] = stored.to(image_only_indicator.device)
            try:
                return super().get_alpha(image_only_indicator, ndims)
            finally:
                self._parameters["mix_factor"] = stored

    return _DeviceAlphaBlender


DeviceAlphaBlender = _device_alpha_blender()


class _Holder(torch.nn.Module):
    """Container the ``ModelPatcher`` manages (it sets ``device`` and bookkeeping attributes on it)."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net


def controlnet_choices() -> list[str]:
    """``.safetensors`` files and diffusers folders (with ``config.json``) under ``models/controlnet``."""
    files = [f for f in host.list_files("controlnet") if f.lower().endswith(".safetensors")]
    dirs = host.list_model_dirs("controlnet", ["config.json"])
    files = [f for f in files if not any(f.startswith(d + "/") for d in dirs)]
    return sorted(set(files) | set(dirs)) or [NO_CONTROLNET]


def load_native_controlnet(name: str) -> NativeControlNet:
    """Load ``name`` from ``models/controlnet`` under a ``ModelPatcher`` with ComfyUI's dtype choice."""
    if not name or name == NO_CONTROLNET:
        roots = ", ".join(host.folder_paths_for("controlnet")) or "models/controlnet"
        raise ValueError(f"control_net_name: no LeviTor ControlNet found; put the released "
                         f"controlnet/diffusion_pytorch_model.safetensors (under any name) into {roots}")
    if name.lower().endswith(".safetensors"):
        path = host.resolve_model_file("controlnet", name)
    else:
        path = host.resolve_model_dir("controlnet", name)
    return manage_controlnet(load_controlnet(path), os.path.basename(path))


def manage_controlnet(net, name: str, weight_dtype: torch.dtype | None = None) -> NativeControlNet:
    """Hand a ``ControlNetSVDModel`` to ComfyUI: its dtype choice (or ``weight_dtype``), casting layers
    and a ``ModelPatcher`` on ComfyUI's devices."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.ops

    load_device = mm.get_torch_device()
    if weight_dtype is None:
        params = sum(p.numel() for p in net.parameters())
        weight_dtype = mm.unet_dtype(model_params=params,
                                     supported_dtypes=[torch.float16, torch.bfloat16, torch.float32])
    manual_cast = mm.unet_manual_cast(weight_dtype, load_device)
    net = use_comfy_ops(net.to(weight_dtype), comfy.ops.manual_cast if manual_cast is not None else
                        comfy.ops.disable_weight_init).train(False)
    patcher = comfy.model_patcher.ModelPatcher(_Holder(net), load_device=load_device,
                                               offload_device=mm.unet_offload_device())
    return NativeControlNet(net=net, patcher=patcher, compute_dtype=manual_cast or weight_dtype, name=name)


# --------------------------------------------------------------------------- the control
def _control_base():
    import comfy.controlnet

    class LeviTorControl(comfy.controlnet.ControlBase):
        """The LeviTor ControlNet as a ComfyUI control on an SVD img2vid model."""

        def __init__(self, controlnet: NativeControlNet, maps: torch.Tensor):
            super().__init__()
            self.controlnet = controlnet
            self.maps = maps  # (F, C, H, W) raw control maps
            self.model_sampling_current = None

        def get_control(self, x_noisy, t, cond, batched_number, transformer_options):
            control_prev = None
            if self.previous_controlnet is not None:
                control_prev = self.previous_controlnet.get_control(x_noisy, t, cond, batched_number,
                                                                    transformer_options)
            if self.timestep_range is not None and (t[0] > self.timestep_range[0] or t[0] < self.timestep_range[1]):
                return control_prev
            frames = cond.get("num_video_frames")
            if frames is None or cond.get("c_concat") is None or cond.get("y") is None:
                raise ValueError("LeviTorApplyControlNet needs an SVD img2vid model and SVD conditioning "
                                 "(SVD_img2vid_Conditioning or LeviTorSVDConditioning)")
            check_latents(self.maps, x_noisy.shape, int(frames))
            ms = self.model_sampling_current
            dtype, device = self.controlnet.compute_dtype, x_noisy.device
            sample = ms.calculate_input(t, x_noisy)
            sample = torch.cat([sample, cond["c_concat"].to(device=device, dtype=sample.dtype)], dim=1).to(dtype)
            timestep = ms.timestep(t).float()
            context = cond["c_crossattn"].to(device=device, dtype=dtype)
            hint = self.maps.to(device=device, dtype=dtype).repeat(x_noisy.shape[0] // int(frames), 1, 1, 1)
            down, mid = controlnet_residuals(self.controlnet.net, sample, timestep, context,
                                             cond["y"].to(device=device, dtype=dtype), hint, int(frames))
            return self.control_merge({"output": down, "middle": [mid]}, control_prev, output_dtype=None)

        def copy(self):
            c = LeviTorControl(self.controlnet, self.maps)
            self.copy_to(c)
            return c

        def get_models(self):
            return super().get_models() + [self.controlnet.patcher]

        def pre_run(self, model, percent_to_timestep_function):
            super().pre_run(model, percent_to_timestep_function)
            self.model_sampling_current = model.model_sampling

        def cleanup(self):
            self.model_sampling_current = None
            super().cleanup()

    return LeviTorControl


def check_latents(maps: torch.Tensor, latent_shape, frames: int) -> None:
    """Raise ``ValueError`` when the control maps do not fit latents of ``latent_shape`` (N, 4, h, w)."""
    n, _, h, w = latent_shape
    if maps.shape[0] != frames:
        raise ValueError(f"the LeviTor control has {maps.shape[0]} frames but the video latent has {frames}; "
                         f"set video_frames of the SVD conditioning to {maps.shape[0]}")
    if n % frames:
        raise ValueError(f"the latent batch ({n}) is not a whole number of {frames}-frame videos")
    if tuple(maps.shape[-2:]) != (h * LATENT_SCALE, w * LATENT_SCALE):
        raise ValueError(f"the LeviTor control is {maps.shape[-1]}x{maps.shape[-2]} (W x H) but the latent is for "
                         f"{w * LATENT_SCALE}x{h * LATENT_SCALE}; set width and height of the SVD conditioning "
                         "to the planning image's size")


def apply_control(positive, negative, controlnet: NativeControlNet, control: Any, strength: float,
                  start_percent: float, end_percent: float):
    """Conditionings with the LeviTor control attached to every entry (both CFG halves)."""
    maps = control_to_tensor(control)
    channels = controlnet.net.config.conditioning_channels
    if maps.shape[1] != channels:
        raise ValueError(f"control has {maps.shape[1]} channels but the ControlNet expects {channels} "
                         "([heatmap, id, depth]); connect LeviTorKMeansControlPoints")
    if start_percent > end_percent:
        raise ValueError(f"start_percent ({start_percent}) must not exceed end_percent ({end_percent})")
    for entry in list(positive) + list(negative):
        latent = entry[1].get("concat_latent_image")
        if latent is not None:
            check_latents(maps, (maps.shape[0], *latent.shape[-3:]), maps.shape[0])
    if strength == 0:
        return positive, negative
    made: dict = {}
    out = []
    for conditioning in (positive, negative):
        result = []
        for embedding, options in conditioning:
            options = options.copy()
            previous = options.get("control")
            if previous not in made:
                made[previous] = _control_base()(controlnet, maps).set_cond_hint(
                    None, strength, (start_percent, end_percent)).set_previous_controlnet(previous)
            options["control"] = made[previous]
            options["control_apply_to_uncond"] = False
            result.append([embedding, options])
        out.append(result)
    return out[0], out[1]


# --------------------------------------------------------------------------- conditioning
def svd_conditioning(clip_vision, image: torch.Tensor, vae, maps: torch.Tensor, *, fps: int, motion_bucket_id: int,
                     augmentation_level: float, seed: int):
    """The original pipeline's SVD conditioning with ComfyUI's CLIP vision and VAE objects.

    CLIP sees the whole image (antialiased resize to its input size, no crop, no 8-bit rounding);
    the VAE encodes ``2·image − 1 + augmentation_level·noise`` (noise in [−1, 1] space, drawn first
    from a CPU generator seeded with ``seed``, as the original does).
    """
    import comfy.model_management as mm

    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(f"init_image must be one image, got a batch of shape {tuple(image.shape)}")
    pixels = image[..., :3].movedim(-1, 1).float().cpu()
    frames, _, height, width = maps.shape
    if tuple(pixels.shape[-2:]) != (height, width):
        raise ValueError(f"init_image is {pixels.shape[-1]}x{pixels.shape[-2]} (W x H) but the control is "
                         f"{width}x{height}; use the image the control was planned on")
    size = int(getattr(clip_vision, "image_size", 224))
    x = (resize_for_clip(pixels * 2.0 - 1.0, (size, size)) + 1.0) / 2.0  # the one CLIP resize of the library
    mean = torch.tensor(clip_vision.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(clip_vision.image_std).view(1, 3, 1, 1)
    mm.load_model_gpu(clip_vision.patcher)
    out = clip_vision.model(pixel_values=((x - mean) / std).to(clip_vision.load_device), intermediate_output=-2)
    pooled = out[2].to(mm.intermediate_device()).float().unsqueeze(0)
    noise = torch.randn(pixels.shape, generator=torch.Generator("cpu").manual_seed(int(seed)), dtype=torch.float32)
    encode = (pixels + 0.5 * augmentation_level * noise).movedim(1, -1)  # the VAE maps [0, 1] to [-1, 1]
    latent = vae.encode(encode)
    extra = {"motion_bucket_id": motion_bucket_id, "fps": fps, "augmentation_level": augmentation_level}
    positive = [[pooled, dict(extra, concat_latent_image=latent)]]
    negative = [[torch.zeros_like(pooled), dict(extra, concat_latent_image=torch.zeros_like(latent))]]
    empty = torch.zeros([frames, 4, height // LATENT_SCALE, width // LATENT_SCALE])
    return positive, negative, {"samples": empty}


# --------------------------------------------------------------------------- nodes
ControlNetType = io.Custom(CONTROLNET)


class LeviTorControlNetLoader(io.ComfyNode):
    """Load the LeviTor ControlNet from ``models/controlnet`` for the native SVD path."""

    @classmethod
    def define_schema(cls):
        host.register_model_folders()
        return io.Schema(
            node_id="LeviTorControlNetLoader",
            display_name="Load LeviTor ControlNet",
            category=CATEGORY,
            description=("Loads the LeviTor ControlNet (the released controlnet/diffusion_pytorch_model.safetensors "
                         "saved under any name, fp32/fp16/bf16, or the diffusers folder) from models/controlnet. "
                         "ComfyUI's memory manager loads and frees it with the SVD UNet."),
            inputs=[io.Combo.Input("control_net_name", options=controlnet_choices(),
                                   tooltip="File or folder under models/controlnet.")],
            outputs=[ControlNetType.Output("control_net", display_name="control_net",
                                           tooltip="For Apply LeviTor ControlNet.")],
        )

    @classmethod
    def execute(cls, control_net_name):
        return io.NodeOutput(load_native_controlnet(control_net_name))


class LeviTorApplyControlNet(io.ComfyNode):
    """Steer a core SVD graph with LeviTor control maps."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="LeviTorApplyControlNet",
            display_name="Apply LeviTor ControlNet",
            category=CATEGORY,
            description=("Adds the LeviTor ControlNet, fed with the control maps of LeviTorKMeansControlPoints, to "
                         "both SVD conditionings (positive and negative, as the original pipeline does). Connect the "
                         "outputs to KSampler with the SVD model."),
            inputs=[
                io.Conditioning.Input("positive", tooltip="Positive conditioning of the SVD graph (from "
                                      "SVD_img2vid_Conditioning or LeviTor SVD Conditioning)."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning of the SVD graph; it gets the "
                                      "control too, as in the reference."),
                ControlNetType.Input("control_net", tooltip="From Load LeviTor ControlNet."),
                Control.Input("control", tooltip="Control maps from LeviTorKMeansControlPoints."),
                io.Float.Input("strength", default=1.0, min=0.0, max=10.0, step=0.01,
                               tooltip="Multiplies every ControlNet residual (the original's controlnet_cond_scale)."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Fraction of the sampling where the control starts."),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.001,
                               tooltip="Fraction of the sampling where the control ends."),
            ],
            outputs=[io.Conditioning.Output("positive_out", display_name="positive",
                                            tooltip="The positive conditioning with the LeviTor control attached."),
                     io.Conditioning.Output("negative_out", display_name="negative",
                                            tooltip="The negative conditioning with the LeviTor control attached.")],
        )

    @classmethod
    def execute(cls, positive, negative, control_net, control, strength, start_percent, end_percent):
        return io.NodeOutput(*apply_control(positive, negative, control_net, control, strength,
                                            start_percent, end_percent))


class LeviTorSVDConditioning(io.ComfyNode):
    """The original pipeline's SVD conditioning, sized from the LeviTor control."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="LeviTorSVDConditioning",
            display_name="LeviTor SVD Conditioning",
            category=CATEGORY,
            description=("SVD img2vid conditioning as the original LeviTor pipeline computes it: CLIP embedding of "
                         "the whole image (resized to 224, no crop), noise augmentation in [-1, 1] space, frame "
                         "count and size from the control. The core SVD_img2vid_Conditioning also works."),
            inputs=[
                io.ClipVision.Input("clip_vision",
                                    tooltip="The CLIP vision model of the SVD checkpoint (ImageOnlyCheckpointLoader)."),
                io.Image.Input("init_image", tooltip="The image the control was planned on."),
                io.Vae.Input("vae", tooltip="The VAE of the SVD checkpoint."),
                Control.Input("control", tooltip="Control maps from LeviTorKMeansControlPoints: frame count and size."),
                io.Int.Input("fps", default=SAMPLING.fps, min=1, max=1024, tooltip="Conditioned as fps - 1."),
                io.Int.Input("motion_bucket_id", default=SAMPLING.motion_bucket_id, min=1, max=1023,
                             tooltip="SVD's motion conditioning: higher moves more."),
                io.Float.Input("augmentation_level", default=SAMPLING.noise_aug_strength, min=0.0, max=10.0, step=0.01,
                               tooltip="Noise added to the conditioning image, in [-1, 1] space as in the reference."),
                io.Int.Input("augmentation_seed", default=DEFAULT_SEED, min=0, max=0xFFFFFFFFFFFFFFFF,
                             tooltip="Seed of the augmentation noise."),
            ],
            outputs=[io.Conditioning.Output("positive_out", display_name="positive",
                                            tooltip="CLIP image embedding and image latents."),
                     io.Conditioning.Output("negative_out", display_name="negative",
                                            tooltip="Zero embedding and zero latents, as the reference uses."),
                     io.Latent.Output("latent", display_name="latent",
                                      tooltip="Empty video latent with the control's frame count and size.")],
        )

    @classmethod
    def execute(cls, clip_vision, init_image, vae, control, fps, motion_bucket_id, augmentation_level,
                augmentation_seed):
        maps = control_to_tensor(control)
        return io.NodeOutput(*svd_conditioning(clip_vision, init_image, vae, maps, fps=fps,
                                               motion_bucket_id=motion_bucket_id,
                                               augmentation_level=augmentation_level, seed=augmentation_seed))


NODES = [LeviTorControlNetLoader, LeviTorApplyControlNet, LeviTorSVDConditioning]
