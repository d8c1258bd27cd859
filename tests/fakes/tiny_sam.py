"""A tiny random segment-anything model in the real checkpoint layout (a ``.pth`` state dict)."""

from __future__ import annotations

from pathlib import Path

from levitor.perception.segmentation import SamConfig

TINY_SAM = SamConfig(encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2, encoder_global_attn_indexes=(1,),
                     window_size=2, image_size=64, patch_size=16, prompt_embed_dim=32, decoder_depth=2,
                     decoder_mlp_dim=64, iou_head_hidden_dim=32, mask_in_chans=16, mlp_ratio=4.0)


def save_tiny_sam(path: Path, seed: int = 0) -> dict:
    """Write a tiny random SAM state dict to ``path`` with ``torch.save``; return the state dict."""
    import torch

    from levitor.perception.segmentation import build_sam

    torch.manual_seed(seed)
    state = build_sam(TINY_SAM).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def tiny_transformers_sam(seed: int = 0):
    """A transformers ``SamModel`` of the :data:`TINY_SAM` sizes (the layout of facebook/sam-vit-huge)."""
    import torch
    from transformers import SamConfig, SamMaskDecoderConfig, SamModel, SamPromptEncoderConfig, SamVisionConfig

    t = TINY_SAM
    vision = SamVisionConfig(hidden_size=t.encoder_embed_dim, num_hidden_layers=t.encoder_depth,
                             num_attention_heads=t.encoder_num_heads, global_attn_indexes=list(t.encoder_global_attn_indexes),
                             window_size=t.window_size, image_size=t.image_size, patch_size=t.patch_size,
                             output_channels=t.prompt_embed_dim, mlp_dim=int(t.encoder_embed_dim * t.mlp_ratio),
                             num_pos_feats=t.prompt_embed_dim // 2)
    prompt = SamPromptEncoderConfig(hidden_size=t.prompt_embed_dim, image_size=t.image_size, patch_size=t.patch_size,
                                    mask_input_channels=t.mask_in_chans)
    decoder = SamMaskDecoderConfig(hidden_size=t.prompt_embed_dim, num_hidden_layers=t.decoder_depth,
                                   mlp_dim=t.decoder_mlp_dim, iou_head_hidden_dim=t.iou_head_hidden_dim)
    torch.manual_seed(seed)
    return SamModel(SamConfig(vision_config=vision.to_dict(), prompt_encoder_config=prompt.to_dict(),
                              mask_decoder_config=decoder.to_dict())).train(False)


def save_tiny_transformers_sam(path: Path, seed: int = 0):
    """Write :func:`tiny_transformers_sam` as one ``.safetensors`` file; return the model."""
    from levitor.io.weights import write_state_dict

    model = tiny_transformers_sam(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    # as transformers saves it: the tied copy of the positional embedding is written once
    write_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("prompt_encoder.shared_embedding.")},
                     path)
    return model
