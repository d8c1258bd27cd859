"""ControlNetSVDModel: layout of the released checkpoint, parameter counts, residual semantics."""

from __future__ import annotations

import pytest
import torch

from levitor.generation.models.controlnet_svd import ControlNetSVDModel
from levitor.generation.models.unet_svd import UNetSpatioTemporalControlModel
from levitor.generation.tiny import SVD_XT_UNET_CONFIG, TINY_UNET_CONFIG

# controlnet/config.json of the released model, as written by the original save_pretrained.
RELEASED_CONFIG = dict(
    SVD_XT_UNET_CONFIG,
    _class_name="ControlNetSVDModel",
    _diffusers_version="0.24.0",
    conditioning_channels=3,
    conditioning_embedding_out_channels=[16, 32, 96, 256],
    with_id_feature=False,
    feature_channels=160,
    feature_out_channels=[160, 160, 256, 256],
)


def expected_controlnet_shapes() -> dict[str, tuple[int, ...]]:
    """Key → shape of the released ControlNet state dict, written out from the layout description.

    The encoder copy has the SVD UNet's own names (taken from the stock diffusers UNet); the
    control embedding and the zero convolutions are listed by hand.
    """
    from diffusers import UNetSpatioTemporalConditionModel

    with torch.device("meta"):
        stock = UNetSpatioTemporalConditionModel(**SVD_XT_UNET_CONFIG)
    prefixes = ("conv_in.", "time_embedding.", "add_embedding.", "down_blocks.", "mid_block.")
    shapes = {k: tuple(v.shape) for k, v in stock.state_dict().items() if k.startswith(prefixes)}

    def conv(name, c_in, c_out, k):
        shapes[f"{name}.weight"] = (c_out, c_in, k, k)
        shapes[f"{name}.bias"] = (c_out,)

    conv("controlnet_cond_embedding.conv_in", 3, 16, 3)
    for i, (c_in, c_out) in enumerate([(16, 16), (16, 32), (32, 32), (32, 96), (96, 96), (96, 256)]):
        conv(f"controlnet_cond_embedding.blocks.{i}", c_in, c_out, 3)
    conv("controlnet_cond_embedding.conv_out", 256, 320, 3)
    for i, c in enumerate([320, 320, 320, 320, 640, 640, 640, 1280, 1280, 1280, 1280, 1280]):
        conv(f"controlnet_down_blocks.{i}", c, c, 1)
    conv("controlnet_mid_block", 1280, 1280, 1)
    return shapes


def test_full_size_keys_and_shapes_match_released_layout():
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = ControlNetSVDModel.from_config(RELEASED_CONFIG)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = expected_controlnet_shapes()
    assert sorted(set(got) - set(expected)) == []
    assert sorted(set(expected) - set(got)) == []
    assert got == expected


def test_full_size_parameter_counts_on_meta():
    with torch.device("meta"):
        model = ControlNetSVDModel(**SVD_XT_UNET_CONFIG)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model) == 682_021_537
    assert count(model.controlnet_cond_embedding) == 1_086_480
    zero = count(model.controlnet_down_blocks) + count(model.controlnet_mid_block)
    assert zero == 11_479_680
    # no decoder
    assert not any(k.startswith(("up_blocks", "conv_out", "conv_norm_out")) for k in model.state_dict())


def test_with_id_feature_is_refused():
    with pytest.raises(ValueError, match="with_id_feature"):
        ControlNetSVDModel(**dict(TINY_UNET_CONFIG, with_id_feature=True))


def test_extra_reference_keys_are_accepted():
    cfg = dict(TINY_UNET_CONFIG, with_id_feature=False, feature_channels=8, feature_out_channels=[8, 8, 8, 8])
    model = ControlNetSVDModel(**cfg)
    assert model.config.with_id_feature is False
    assert not any("feat" in k or "mlp_embedding" in k for k in model.state_dict())


@pytest.fixture(scope="module")
def tiny_unet():
    torch.manual_seed(0)
    return UNetSpatioTemporalControlModel(**TINY_UNET_CONFIG).eval()


def _inputs(batch=2, frames=2, h=9, w=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, frames, 8, h, w, generator=g)
    emb = torch.randn(batch, 1, TINY_UNET_CONFIG["cross_attention_dim"], generator=g)
    ids = torch.tensor([[5.0, 100.0, 0.02]]).repeat(batch, 1)
    cond = torch.rand(batch, frames, 3, 8 * h, 8 * w, generator=g) * 255
    return sample, emb, ids, cond


def test_from_unet_copies_encoder_and_starts_silent(tiny_unet):
    cn = ControlNetSVDModel.from_unet(tiny_unet, conditioning_embedding_out_channels=(8, 16, 16, 32))
    unet_sd = tiny_unet.state_dict()
    for key, value in cn.state_dict().items():
        if key.startswith(("conv_in.", "time_embedding.", "add_embedding.", "down_blocks.", "mid_block.")):
            assert torch.equal(value, unet_sd[key]), key
    sample, emb, ids, cond = _inputs()
    with torch.no_grad():
        out = cn(sample, 1.5, emb, ids, cond)
    assert len(out.down_block_res_samples) == 12
    assert all(torch.count_nonzero(r) == 0 for r in out.down_block_res_samples)
    assert torch.count_nonzero(out.mid_block_res_sample) == 0


def _randomise_zero_convs(cn, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        convs = [cn.controlnet_cond_embedding.conv_out, cn.controlnet_mid_block, *cn.controlnet_down_blocks]
        for conv in convs:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.05)
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=g) * 0.05)
        cn.controlnet_cond_embedding.conv_in.weight.mul_(0.01)
    return cn


def test_residual_shapes_scale_and_control_dependence(tiny_unet):
    cn = _randomise_zero_convs(ControlNetSVDModel.from_unet(tiny_unet, conditioning_embedding_out_channels=(8, 16, 16, 32))).eval()
    sample, emb, ids, cond = _inputs(h=9, w=5)
    with torch.no_grad():
        one = cn(sample, 1.5, emb, ids, cond, conditioning_scale=1.0)
        two = cn(sample, 1.5, emb, ids, cond, conditioning_scale=2.0)
        other = cn(sample, 1.5, emb, ids, torch.zeros_like(cond))
    shapes = [tuple(r.shape) for r in one.down_block_res_samples]
    n = 4  # batch 2 × frames 2
    # conv_in, then per block its resnets and downsampler (block widths 32, 32, 64, 64)
    assert shapes == (
        [(n, 32, 9, 5)] * 3 + [(n, 32, 5, 3)] * 3 + [(n, 32, 3, 2)] + [(n, 64, 3, 2)] * 2 + [(n, 64, 2, 1)] * 3
    )
    assert tuple(one.mid_block_res_sample.shape) == (n, 64, 2, 1)
    for a, b in zip(one.down_block_res_samples, two.down_block_res_samples):
        torch.testing.assert_close(2 * a, b)
    torch.testing.assert_close(2 * one.mid_block_res_sample, two.mid_block_res_sample)
    assert not torch.allclose(one.down_block_res_samples[0], other.down_block_res_samples[0])
    down, mid = cn(sample, 1.5, emb, ids, cond, return_dict=False)
    assert torch.equal(mid, one.mid_block_res_sample)


def test_conditioning_embedding_layout():
    cn = ControlNetSVDModel(**dict(TINY_UNET_CONFIG, conditioning_embedding_out_channels=(8, 16, 16, 32)))
    embed = cn.controlnet_cond_embedding
    strides = [c.stride[0] for c in embed.blocks]
    assert strides == [1, 2, 1, 2, 1, 2]
    assert torch.count_nonzero(embed.conv_out.weight) == 0
    out = embed(torch.rand(1, 3, 3, 72, 40))
    assert tuple(out.shape) == (3, 32, 9, 5)


def test_control_size_must_match_latents(tiny_unet):
    cn = ControlNetSVDModel.from_unet(tiny_unet, conditioning_embedding_out_channels=(8, 16, 16, 32))
    sample, emb, ids, cond = _inputs(h=8, w=8)
    with pytest.raises(ValueError, match="controlnet_cond"):
        cn(sample, 1.0, emb, ids, cond[..., :32, :32])
    with pytest.raises(ValueError, match="controlnet_cond"):
        cn(sample, 1.0, emb, ids, cond[0])


def _encoder_outputs(unet, sample, emb, ids):
    """Skip tensors (conv_in + 11 down-block outputs) and mid-block output of ``unet``, via hooks."""
    skips, mids = [], []
    hooks = [unet.conv_in.register_forward_hook(lambda m, i, o: skips.append(o))]
    hooks += [b.register_forward_hook(lambda m, i, o: skips.extend(o[1])) for b in unet.down_blocks]
    hooks.append(unet.mid_block.register_forward_hook(lambda m, i, o: mids.append(o)))
    try:
        with torch.no_grad():
            unet(sample, 0.7, emb, ids)
    finally:
        for h in hooks:
            h.remove()
    return skips, mids[0]


@pytest.fixture(scope="module")
def stock_unets(tiny_unet):
    """Stock diffusers UNets with the tiny weights: as shipped, and with the 0.24 context order."""
    from diffusers import UNetSpatioTemporalConditionModel

    from old_temporal_context import old_order

    unets = {}
    for mode in ("per-sample", "reference"):
        stock = UNetSpatioTemporalConditionModel(**TINY_UNET_CONFIG).eval()
        stock.load_state_dict(tiny_unet.state_dict(), strict=True)
        unets[mode] = old_order(stock) if mode == "reference" else stock
    return unets


@pytest.mark.parametrize("mode", ["per-sample", "reference"])
def test_encoder_path_equals_unet_encoder(tiny_unet, stock_unets, mode):
    """With identity output convs and a silent control embedding, the residuals are the encoder
    skips of stock diffusers' UNet (per-sample) or of the 0.24 context order (reference)."""
    cn = ControlNetSVDModel.from_unet(tiny_unet, conditioning_embedding_out_channels=(8, 16, 16, 32)).eval()
    with torch.no_grad():
        for conv in [*cn.controlnet_down_blocks, cn.controlnet_mid_block]:
            c = conv.weight.shape[0]
            conv.weight.copy_(torch.eye(c).view(c, c, 1, 1))
            conv.bias.zero_()
    sample, emb, ids, cond = _inputs(h=9, w=6)
    emb[0] = 0.0  # distinct contexts per sample, as with guidance
    skips, mid = _encoder_outputs(stock_unets[mode], sample, emb, ids)
    cn.set_temporal_context(mode)
    with torch.no_grad():
        out = cn(sample, 0.7, emb, ids, cond, conditioning_scale=1.0)
        other = "per-sample" if mode == "reference" else "reference"
        with cn.temporal_context_as(other):
            out_other = cn(sample, 0.7, emb, ids, cond, conditioning_scale=1.0)
    assert len(skips) == 12
    for got, want in zip(out.down_block_res_samples, skips):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.mid_block_res_sample, mid, rtol=1e-5, atol=1e-5)
    assert (out_other.mid_block_res_sample - mid).abs().max() > 1e-3
    assert cn.temporal_context == mode
