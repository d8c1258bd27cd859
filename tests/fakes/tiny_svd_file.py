"""A tiny random SVD as one SGM-layout file, like ``models/checkpoints/svd_xt.safetensors``.

The UNet, image encoder and ControlNet are ``levitor.generation.tiny``'; the VAE has two res blocks
per level (the SGM layout's decoder middle block always has two) and an identity ``quant_conv``
(the SGM layout has none), as SVD-xt's diffusers VAE.
"""

from __future__ import annotations

from pathlib import Path


def tiny_sgm_components(seed: int = 0) -> dict:
    """``levitor.generation.tiny.build_tiny_components`` with an SGM-compatible VAE."""
    import torch
    from diffusers import AutoencoderKLTemporalDecoder

    from levitor.generation.tiny import build_tiny_components

    parts = build_tiny_components(seed=seed)
    torch.manual_seed(seed + 7)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=(32, 32, 32, 32), down_block_types=("DownEncoderBlock2D",) * 4,
                                       layers_per_block=2, latent_channels=4, sample_size=64)
    with torch.no_grad():
        vae.quant_conv.weight.copy_(torch.eye(8)[:, :, None, None])
        vae.quant_conv.bias.zero_()
    parts["vae"] = vae.train(False)
    return parts


def save_tiny_svd_file(path: Path, seed: int = 0) -> dict:
    """Write the tiny SVD as an SGM single file at ``path``; return the components."""
    from levitor.generation.single_file import save_single_file

    parts = tiny_sgm_components(seed)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_single_file(parts["unet"], parts["vae"], parts["image_encoder"], path)
    return parts


#: Model file names of the native example workflows, by model folder.
NATIVE_MODEL_FILES = {
    "checkpoints": "svd_xt.safetensors",
    "controlnet": "levitor_controlnet.safetensors",
    "sams": "sam_vit_h.safetensors",
    "depthanything": "depth_anything_v2_vitl_fp32.safetensors",
}


def write_native_workflow_models(root: Path) -> Path:
    """Tiny random models under the native workflows' file names, each in its release layout:
    the SGM SVD file, the diffusers-layout ControlNet file (no config), SAM in the transformers
    layout, Depth-Anything-V2 in the original layout, all single safetensors files."""
    from levitor.io.weights import write_state_dict

    from .tiny_depth import tiny_original_state_dict
    from .tiny_sam import save_tiny_transformers_sam

    root = Path(root)
    parts = save_tiny_svd_file(root / "checkpoints" / NATIVE_MODEL_FILES["checkpoints"])
    (root / "controlnet").mkdir(parents=True, exist_ok=True)
    write_state_dict(parts["controlnet"].state_dict(), root / "controlnet" / NATIVE_MODEL_FILES["controlnet"])
    save_tiny_transformers_sam(root / "sams" / NATIVE_MODEL_FILES["sams"])
    (root / "depthanything").mkdir(parents=True, exist_ok=True)
    write_state_dict(tiny_original_state_dict(), root / "depthanything" / NATIVE_MODEL_FILES["depthanything"])
    return root
