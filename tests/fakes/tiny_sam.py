"""A tiny random segment-anything model in the real checkpoint layout (a ``.pth`` state dict)."""

from __future__ import annotations

from pathlib import Path

from levitor.segmentation import SamConfig

TINY_SAM = SamConfig(encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2, encoder_global_attn_indexes=(1,),
                     window_size=2, image_size=64, patch_size=16, prompt_embed_dim=32, decoder_depth=2,
                     decoder_mlp_dim=64, iou_head_hidden_dim=32, mask_in_chans=16, mlp_ratio=4.0)


def save_tiny_sam(path: Path, seed: int = 0) -> dict:
    """Write a tiny random SAM state dict to ``path`` with ``torch.save``; return the state dict."""
    import torch

    from levitor.segmentation import build_sam

    torch.manual_seed(seed)
    state = build_sam(TINY_SAM).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state
