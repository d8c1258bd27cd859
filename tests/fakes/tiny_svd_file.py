"""A tiny random SVD as one SGM-layout file, like ``models/checkpoints/svd_xt.safetensors``.

The UNet, image encoder and ControlNet are ``levitor.tiny_models``'; the VAE has two res blocks
per level (the SGM layout's decoder middle block always has two) and an identity ``quant_conv``
(the SGM layout has none), as SVD-xt's diffusers VAE.
"""

from __future__ import annotations

from pathlib import Path


def tiny_sgm_components(seed: int = 0) -> dict:
    """``levitor.tiny_models.build_tiny_components`` with an SGM-compatible VAE."""
    import torch
    from diffusers import AutoencoderKLTemporalDecoder

    from levitor.tiny_models import build_tiny_components

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
