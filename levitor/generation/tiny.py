"""Tiny randomly initialised SVD components and LeviTor ControlNet, saved in the real on-disk layouts.

They have the real architectures at a toy width, so the loaders, the sampling loop, the nodes and
the trainer can be exercised on a CPU in seconds without any downloaded weights::

    python -m levitor.generation.tiny OUT_DIR

writes ``OUT_DIR/svd`` (a diffusers Stable Video Diffusion folder: ``model_index.json``, ``unet/``,
``vae/``, ``image_encoder/``, ``feature_extractor/``, ``scheduler/``, with ``.fp16`` weight
variants like SVD-xt) and ``OUT_DIR/controlnet`` (``config.json`` with ``_class_name``
``ControlNetSVDModel`` and ``with_id_feature: false`` + ``diffusion_pytorch_model.safetensors``).
The outputs are random: they make noise, not videos.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .configs import SVD_XT_SCHEDULER_CONFIG
from .models.controlnet_svd import ControlNetSVDModel

# SVD-xt's unet/config.json (architecture keys).
SVD_XT_UNET_CONFIG = {
    "sample_size": 96,
    "in_channels": 8,
    "out_channels": 4,
    "down_block_types": [
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "DownBlockSpatioTemporal",
    ],
    "up_block_types": [
        "UpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
    ],
    "block_out_channels": [320, 640, 1280, 1280],
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 768,
    "layers_per_block": 2,
    "cross_attention_dim": 1024,
    "transformer_layers_per_block": 1,
    "num_attention_heads": [5, 10, 20, 20],
    "num_frames": 25,
}

# The tiny UNet: SVD-xt's block structure (4 levels, 2 layers per block, 12 skips) at toy width.
TINY_UNET_CONFIG = dict(
    SVD_XT_UNET_CONFIG,
    sample_size=8,
    block_out_channels=[32, 32, 64, 64],
    addition_time_embed_dim=8,
    projection_class_embeddings_input_dim=24,
    cross_attention_dim=32,
    num_attention_heads=[1, 1, 2, 2],
    num_frames=4,
)

TINY_CONTROLNET_EMBEDDING = (8, 16, 16, 32)


def build_tiny_components(*, seed: int = 0) -> dict:
    """Build tiny random SVD components and a tiny ControlNet in memory.

    Returns a dict with ``unet``, ``vae``, ``image_encoder``, ``feature_extractor``, ``scheduler``
    and ``controlnet``. Every residual conv of the ControlNet gets small random weights (instead of
    zeros) so that the control maps visibly change the UNet output.
    """
    import torch
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    # The stock class, so that model_index.json names it exactly as in SVD-xt.
    unet = UNetSpatioTemporalConditionModel(**TINY_UNET_CONFIG)
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=(32, 32, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        layers_per_block=1,
        latent_channels=4,
        sample_size=64,
    )
    clip_config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=224,
        patch_size=32,
        projection_dim=TINY_UNET_CONFIG["cross_attention_dim"],
    )
    image_encoder = CLIPVisionModelWithProjection(clip_config).train(False)
    feature_extractor = CLIPImageProcessor(crop_size=224, size={"shortest_edge": 224})
    scheduler = EulerDiscreteScheduler.from_config(SVD_XT_SCHEDULER_CONFIG)

    controlnet = ControlNetSVDModel.from_unet(
        unet, conditioning_channels=3, conditioning_embedding_out_channels=TINY_CONTROLNET_EMBEDDING
    )
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        zero_init = [controlnet.controlnet_cond_embedding.conv_out, controlnet.controlnet_mid_block]
        zero_init += list(controlnet.controlnet_down_blocks)
        for conv in zero_init:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.05)
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=generator) * 0.05)
        # Control values are unnormalised (0..255), keep the embedding input small.
        controlnet.controlnet_cond_embedding.conv_in.weight.mul_(0.01)
    return {
        "unet": unet.train(False),
        "vae": vae.train(False),
        "image_encoder": image_encoder,
        "feature_extractor": feature_extractor,
        "scheduler": scheduler,
        "controlnet": controlnet.train(False),
    }


def save_tiny_models(out_dir: str | Path, *, seed: int = 0, fp16_variant: bool = True) -> dict:
    """Write tiny random models to ``out_dir`` and return ``{"svd": Path, "controlnet": Path}``.

    ``out_dir/svd`` is a diffusers Stable Video Diffusion folder (written by
    ``StableVideoDiffusionPipeline.save_pretrained``; with ``fp16_variant`` the ``.fp16``
    safetensors variants are written as well, like the SVD-xt repository), ``out_dir/controlnet``
    a ControlNet folder like LeviTor's released ``controlnet/``.
    """
    import torch
    from diffusers import StableVideoDiffusionPipeline

    out_dir = Path(out_dir)
    parts = build_tiny_components(seed=seed)
    controlnet = parts.pop("controlnet")
    svd = StableVideoDiffusionPipeline(**parts)
    svd_dir, cn_dir = out_dir / "svd", out_dir / "controlnet"
    svd.save_pretrained(svd_dir, safe_serialization=True)
    if fp16_variant:
        for name in ("unet", "vae", "image_encoder"):
            module = parts[name]
            half = type(module).from_pretrained(svd_dir / name, torch_dtype=torch.float16)
            half.save_pretrained(svd_dir / name, variant="fp16", safe_serialization=True)
    controlnet.save_pretrained(cn_dir, safe_serialization=True)
    return {"svd": svd_dir, "controlnet": cn_dir}


def main(argv: list[str] | None = None) -> int:
    """Command line entry: ``python -m levitor.generation.tiny OUT_DIR [--seed N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m levitor.generation.tiny",
        description="Write tiny random SVD and LeviTor ControlNet folders (for tests and demos).",
    )
    parser.add_argument("out_dir", type=Path, help="folder to create; gets svd/ and controlnet/")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the weights (default 0)")
    args = parser.parse_args(argv)
    paths = save_tiny_models(args.out_dir, seed=args.seed)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
