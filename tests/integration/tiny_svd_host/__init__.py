"""Test-only ComfyUI node: ComfyUI's own SVD model classes holding a tiny SGM-layout SVD file.

The core ``ImageOnlyCheckpointLoader`` recognises SVD by its full widths (320-channel UNet,
ViT-H image tower, 128-channel VAE), so a tiny file cannot pass its model detection. This loader
builds the same classes ComfyUI builds for ``svd_xt.safetensors`` (``supported_models.SVD_img2vid``
and its ``model_base.SVD_img2vid``, ``ClipVisionModel``, ``VAE`` with the temporal decoder) at the
tiny sizes read from the file, and returns MODEL, CLIP_VISION, VAE like the core loader. The
headless workflow tests swap it in for ``ImageOnlyCheckpointLoader``; everything else in the
workflows runs as shipped.
"""

from __future__ import annotations

import json
import os
import re
import tempfile

CLIP_PREFIX = "conditioner.embedders.0.open_clip.model.visual."
UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."


def _tiny_vae(vae_sd: dict):
    """``comfy.sd.VAE`` for the video VAE at the widths of ``vae_sd`` (ComfyUI fixes them at 128)."""
    import comfy.sd

    ch = vae_sd["encoder.conv_in.weight"].shape[0]
    levels = len({m.group(1) for k in vae_sd if (m := re.match(r"encoder\.down\.(\d+)\.", k))})
    mult = [vae_sd[f"encoder.down.{i}.block.0.conv1.weight"].shape[0] // ch for i in range(levels)]
    engine = comfy.sd.AutoencodingEngine

    def sized(**kwargs):
        for key in ("encoder_config", "decoder_config"):
            kwargs[key] = dict(kwargs[key], params=dict(kwargs[key]["params"], ch=ch, ch_mult=mult))
        return engine(**kwargs)

    comfy.sd.AutoencodingEngine = sized
    try:
        return comfy.sd.VAE(sd=vae_sd)
    finally:
        comfy.sd.AutoencodingEngine = engine


def _tiny_clip_vision(clip_sd: dict, metadata: dict):
    import comfy.clip_vision

    sd = comfy.clip_vision.convert_to_transformers(dict(clip_sd), CLIP_PREFIX)
    cfg = json.loads(metadata["levitor.configs"])["image_encoder"]
    config = {k: cfg[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                  "image_size", "patch_size", "projection_dim", "layer_norm_eps", "hidden_act")}
    config.update(num_channels=3, model_type="clip_vision_model")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    try:
        clip = comfy.clip_vision.ClipVisionModel(f.name)
    finally:
        os.unlink(f.name)
    missing, unexpected = clip.load_sd(sd)
    if missing or unexpected:
        raise ValueError(f"tiny CLIP vision: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return clip


def _tiny_unet(sd: dict):
    import comfy.model_detection
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.supported_models
    import torch
    from comfy.ldm.modules.diffusionmodules.openaimodel import Timestep

    unet_config = comfy.model_detection.detect_unet_config(sd, UNET_PREFIX)
    model_config = comfy.supported_models.SVD_img2vid(unet_config)
    model_config.unet_config["num_head_channels"] = min(64, unet_config["model_channels"])
    model_config.set_inference_dtype(torch.float32, None)
    model = model_config.get_model(sd, UNET_PREFIX, device=mm.unet_offload_device())
    model.embedder = Timestep(unet_config["adm_in_channels"] // 3)  # 256 in SVD-xt
    unet_sd = {k: v for k, v in sd.items() if k.startswith(UNET_PREFIX)}
    expected = set(model.diffusion_model.state_dict())
    if {k[len(UNET_PREFIX):] for k in unet_sd} != expected:
        raise ValueError("tiny UNet keys do not match ComfyUI's SVD UNet")
    model.load_model_weights(unet_sd, UNET_PREFIX)
    return comfy.model_patcher.ModelPatcher(model, load_device=mm.get_torch_device(),
                                            offload_device=mm.unet_offload_device())


def load_tiny_svd(path: str):
    """MODEL, CLIP_VISION, VAE from a tiny SGM SVD file written by ``levitor.generation.single_file``."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    sd = load_file(path)
    with safe_open(path, "pt") as f:
        metadata = f.metadata()
    vae = _tiny_vae({k[len(VAE_PREFIX):]: v for k, v in sd.items() if k.startswith(VAE_PREFIX)})
    clip = _tiny_clip_vision({k: v for k, v in sd.items() if k.startswith(CLIP_PREFIX)}, metadata)
    return _tiny_unet(sd), clip, vae


class LeviTorTestTinySVDLoader:
    CATEGORY = "testing"
    FUNCTION = "load"
    RETURN_TYPES = ("MODEL", "CLIP_VISION", "VAE")

    @classmethod
    def INPUT_TYPES(cls):
        import folder_paths

        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),)}}

    def load(self, ckpt_name):
        import folder_paths

        return load_tiny_svd(folder_paths.get_full_path_or_raise("checkpoints", ckpt_name))


NODE_CLASS_MAPPINGS = {"LeviTorTestTinySVDLoader": LeviTorTestTinySVDLoader}
