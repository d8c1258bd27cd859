"""Depth-Anything-V2 wrapper: original-checkpoint key mapping, both on-disk layouts, preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakes.tiny_depth import original_shapes, tiny_original_state_dict
from levitor.perception.depth import (
    DepthEstimator,
    config_from_original_state_dict,
    convert_original_state_dict,
    head_layers,
    input_resolution,
    load_depth_model,
)


@pytest.fixture(scope="module")
def original():
    return tiny_original_state_dict()


@pytest.fixture(scope="module")
def files(original, tmp_path_factory):
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("depthanything")
    torch.save(original, d / "depth_anything_v2_vits.pth")
    save_file({k: v.contiguous() for k, v in original.items()}, str(d / "depth_anything_v2_vits.safetensors"))
    model = load_depth_model(d / "depth_anything_v2_vits.pth")
    model.save_pretrained(str(d / "Depth-Anything-V2-Tiny-hf"))
    return d


def test_every_original_key_maps_onto_every_transformers_key(original):
    from transformers import DepthAnythingForDepthEstimation

    model = DepthAnythingForDepthEstimation(config_from_original_state_dict(original))
    target = model.state_dict()
    converted = convert_original_state_dict(original, target.keys())
    assert set(converted) == set(target)
    for k, v in converted.items():
        assert tuple(v.shape) == tuple(target[k].shape), k
    # the fused qkv projection is split in order q, k, v
    qkv = original["pretrained.blocks.1.attn.qkv.weight"]
    dim = qkv.shape[1]
    qk = [k for k in converted if k.startswith("backbone.encoder.layer.1.attention") and "weight" in k]
    q_name = next(k for k in qk if ".q_proj." in k or ".query." in k)
    v_name = next(k for k in qk if ".v_proj." in k or ".value." in k)
    assert torch.equal(converted[q_name], qkv[:dim]) and torch.equal(converted[v_name], qkv[2 * dim:])
    # refinenet4 is the first (deepest) fusion stage
    assert torch.equal(converted["neck.fusion_stage.layers.0.projection.weight"],
                       original["depth_head.scratch.refinenet4.out_conv.weight"])


def test_both_attention_layouts_are_named():
    state = {k: torch.zeros(s) for k, s in original_shapes().items() if ".attn." in k and "blocks.0." in k}
    split = convert_original_state_dict(state, ["backbone.encoder.layer.0.attention.q_proj.weight"])
    nested = convert_original_state_dict(state, ["backbone.encoder.layer.0.attention.attention.query.weight"])
    assert "backbone.encoder.layer.0.attention.o_proj.weight" in split
    assert "backbone.encoder.layer.0.attention.output.dense.weight" in nested
    assert "backbone.encoder.layer.0.attention.attention.key.bias" in nested


def test_unknown_keys_and_non_checkpoints_are_rejected(original, tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        convert_original_state_dict({"pretrained.extra.weight": torch.zeros(1)}, [])
    torch.save({"weight": torch.zeros(2)}, tmp_path / "x.pth")
    with pytest.raises(ValueError, match="not a Depth-Anything-V2 checkpoint"):
        load_depth_model(tmp_path / "x.pth")
    with pytest.raises(ValueError, match="does not exist"):
        load_depth_model(tmp_path / "missing.pth")


def test_config_read_from_the_state_dict(original):
    cfg = config_from_original_state_dict(original)
    assert cfg.backbone_config.hidden_size == 64 and cfg.backbone_config.num_hidden_layers == 4
    assert cfg.neck_hidden_sizes == [8, 16, 32, 32] and cfg.fusion_hidden_size == 16
    assert cfg.backbone_config.image_size == 56 and cfg.patch_size == 14
    assert head_layers(24) == (4, 11, 17, 23) and head_layers(12) == (2, 5, 8, 11)


def test_all_layouts_give_the_same_depth(files):
    img = np.random.default_rng(0).integers(0, 255, (30, 44, 3), dtype=np.uint8)
    outs = []
    for name in ("depth_anything_v2_vits.pth", "depth_anything_v2_vits.safetensors", "Depth-Anything-V2-Tiny-hf"):
        est = DepthEstimator.from_pretrained(files / name)
        d = est(img, input_size=28)
        assert d.shape == (30, 44) and d.dtype == np.float32 and np.all(np.isfinite(d))
        outs.append(d)
    assert np.allclose(outs[0], outs[1]) and np.allclose(outs[0], outs[2], atol=1e-5)
    assert outs[0].std() > 0


def test_preprocessing_follows_the_reference(files):
    est = DepthEstimator.from_pretrained(files / "depth_anything_v2_vits.pth")
    assert input_resolution(512, 288, 512) == (910, 518)
    assert input_resolution(30, 44, 28) == (28, 42)
    img = np.zeros((30, 44, 3), dtype=np.uint8)
    img[..., 0] = 255  # pure red
    swapped = est.preprocess(img, 28, swap_rb=True)
    plain = est.preprocess(img, 28, swap_rb=False)
    assert swapped.shape == (1, 3, 28, 42)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    assert np.allclose(plain[0, :, 10, 10].numpy(), (np.array([1.0, 0, 0]) - mean) / std, atol=1e-4)
    assert np.allclose(swapped[0, :, 10, 10].numpy(), (np.array([0, 0, 1.0]) - mean) / std, atol=1e-4)
    a = est(img, input_size=28, swap_rb=True)
    b = est(img, input_size=28, swap_rb=False)
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="uint8 RGB"):
        est(np.zeros((4, 4)), input_size=28)
