"""A tiny random Depth-Anything-V2 in the original single-file naming (``depth_anything_v2_vit*.pth``).

The key list follows the published model's module tree: a DINOv2 encoder under ``pretrained``
(fused ``attn.qkv``, layer scales ``ls1``/``ls2``) and the DPT head under ``depth_head``
(``projects``, ``resize_layers`` 0/1/3, ``scratch.layerN_rn``, ``scratch.refinenetN`` with
``out_conv`` and two residual units, ``scratch.output_conv1``/``output_conv2``).
"""

from __future__ import annotations

DIM, DEPTH, PATCH, GRID, FEATURES, OUT_CHANNELS, HEAD2 = 64, 4, 14, 4, 16, [8, 16, 32, 32], 32


def original_shapes(dim=DIM, depth=DEPTH, patch=PATCH, grid=GRID, features=FEATURES, out_channels=OUT_CHANNELS,
                    head2=HEAD2) -> dict:
    """Every parameter of an original Depth-Anything-V2 checkpoint of these sizes, with its shape."""
    s = {
        "pretrained.cls_token": (1, 1, dim),
        "pretrained.mask_token": (1, dim),
        "pretrained.pos_embed": (1, grid * grid + 1, dim),
        "pretrained.patch_embed.proj.weight": (dim, 3, patch, patch),
        "pretrained.patch_embed.proj.bias": (dim,),
        "pretrained.norm.weight": (dim,),
        "pretrained.norm.bias": (dim,),
    }
    for i in range(depth):
        b = f"pretrained.blocks.{i}"
        s.update({
            f"{b}.norm1.weight": (dim,), f"{b}.norm1.bias": (dim,),
            f"{b}.attn.qkv.weight": (3 * dim, dim), f"{b}.attn.qkv.bias": (3 * dim,),
            f"{b}.attn.proj.weight": (dim, dim), f"{b}.attn.proj.bias": (dim,),
            f"{b}.ls1.gamma": (dim,),
            f"{b}.norm2.weight": (dim,), f"{b}.norm2.bias": (dim,),
            f"{b}.mlp.fc1.weight": (4 * dim, dim), f"{b}.mlp.fc1.bias": (4 * dim,),
            f"{b}.mlp.fc2.weight": (dim, 4 * dim), f"{b}.mlp.fc2.bias": (dim,),
            f"{b}.ls2.gamma": (dim,),
        })
    h = "depth_head"
    for i, oc in enumerate(out_channels):
        s[f"{h}.projects.{i}.weight"] = (oc, dim, 1, 1)
        s[f"{h}.projects.{i}.bias"] = (oc,)
        s[f"{h}.scratch.layer{i + 1}_rn.weight"] = (features, oc, 3, 3)
    s[f"{h}.resize_layers.0.weight"] = (out_channels[0], out_channels[0], 4, 4)
    s[f"{h}.resize_layers.0.bias"] = (out_channels[0],)
    s[f"{h}.resize_layers.1.weight"] = (out_channels[1], out_channels[1], 2, 2)
    s[f"{h}.resize_layers.1.bias"] = (out_channels[1],)
    s[f"{h}.resize_layers.3.weight"] = (out_channels[3], out_channels[3], 3, 3)
    s[f"{h}.resize_layers.3.bias"] = (out_channels[3],)
    for r in range(1, 5):
        p = f"{h}.scratch.refinenet{r}"
        s[f"{p}.out_conv.weight"] = (features, features, 1, 1)
        s[f"{p}.out_conv.bias"] = (features,)
        for u in (1, 2):
            for c in (1, 2):
                s[f"{p}.resConfUnit{u}.conv{c}.weight"] = (features, features, 3, 3)
                s[f"{p}.resConfUnit{u}.conv{c}.bias"] = (features,)
    s[f"{h}.scratch.output_conv1.weight"] = (features // 2, features, 3, 3)
    s[f"{h}.scratch.output_conv1.bias"] = (features // 2,)
    s[f"{h}.scratch.output_conv2.0.weight"] = (head2, features // 2, 3, 3)
    s[f"{h}.scratch.output_conv2.0.bias"] = (head2,)
    s[f"{h}.scratch.output_conv2.2.weight"] = (1, head2, 1, 1)
    s[f"{h}.scratch.output_conv2.2.bias"] = (1,)
    return s


def tiny_original_state_dict(seed: int = 0) -> dict:
    """Random tensors (small values, positive output bias) for :func:`original_shapes`."""
    import torch

    g = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(shape, generator=g) * 0.05 for k, shape in original_shapes().items()}
    state["depth_head.scratch.output_conv2.2.bias"] = torch.tensor([0.5])
    return state
