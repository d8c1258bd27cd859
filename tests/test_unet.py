"""UNetSpatioTemporalControlModel: stock weights and keys, residual inputs, odd latent sizes."""

from __future__ import annotations

import pytest
import torch
from diffusers import UNetSpatioTemporalConditionModel

from levitor.generation.models.unet_svd import UNetSpatioTemporalControlModel
from levitor.generation.tiny import SVD_XT_UNET_CONFIG, TINY_UNET_CONFIG


def test_full_size_parameters_and_keys_equal_stock_unet():
    with torch.device("meta"):
        ours = UNetSpatioTemporalControlModel(**SVD_XT_UNET_CONFIG)
        stock = UNetSpatioTemporalConditionModel(**SVD_XT_UNET_CONFIG)
    assert sum(p.numel() for p in ours.parameters()) == 1_524_623_082
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in stock.state_dict().items()}


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    stock = UNetSpatioTemporalConditionModel(**TINY_UNET_CONFIG).eval()
    ours = UNetSpatioTemporalControlModel(**TINY_UNET_CONFIG).eval()
    ours.load_state_dict(stock.state_dict(), strict=True)
    return stock, ours


def _inputs(h, w, batch=2, frames=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, frames, 8, h, w, generator=g)
    emb = torch.randn(batch, 1, TINY_UNET_CONFIG["cross_attention_dim"], generator=g)
    ids = torch.tensor([[5.0, 100.0, 0.02]]).repeat(batch, 1)
    return sample, emb, ids


def _zero_residuals(ours, sample, emb, ids):
    """Zero residuals with the shapes of the skip tensors, found with forward hooks."""
    shapes = []
    hooks = [ours.conv_in.register_forward_hook(lambda m, i, o: shapes.append(o.shape))]
    for block in ours.down_blocks:
        hooks.append(block.register_forward_hook(lambda m, i, o: shapes.extend(r.shape for r in o[1])))
    mid = []
    hooks.append(ours.mid_block.register_forward_hook(lambda m, i, o: mid.append(o.shape)))
    with torch.no_grad():
        ours(sample, 0.5, emb, ids)
    for h in hooks:
        h.remove()
    return [torch.zeros(s) for s in shapes], torch.zeros(mid[0])


@pytest.mark.parametrize("size", [(8, 8), (9, 5)])
def test_zero_residuals_match_stock_exactly(pair, size):
    stock, ours = pair
    sample, emb, ids = _inputs(*size)
    down, mid = _zero_residuals(ours, sample, emb, ids)
    assert len(down) == 12
    with torch.no_grad():
        ref = stock(sample, 0.5, emb, ids).sample
        plain = ours(sample, 0.5, emb, ids).sample
        zero = ours(sample, 0.5, emb, ids, down_block_additional_residuals=down,
                    mid_block_additional_residual=mid).sample
    assert ref.shape == (2, 3, 4, *size)
    assert torch.equal(plain, ref)
    assert torch.equal(zero, ref)


def test_residuals_change_the_output(pair):
    _, ours = pair
    sample, emb, ids = _inputs(8, 8)
    down, mid = _zero_residuals(ours, sample, emb, ids)
    with torch.no_grad():
        base = ours(sample, 0.5, emb, ids).sample
        bumped = [d.clone() for d in down]
        bumped[5] += 0.5
        with_down = ours(sample, 0.5, emb, ids, down_block_additional_residuals=bumped,
                         mid_block_additional_residual=mid).sample
        with_mid = ours(sample, 0.5, emb, ids, down_block_additional_residuals=down,
                        mid_block_additional_residual=mid + 0.5).sample
    assert not torch.allclose(with_down, base)
    assert not torch.allclose(with_mid, base)
    assert not torch.allclose(with_down, with_mid)


def test_wrong_number_of_residuals(pair):
    _, ours = pair
    sample, emb, ids = _inputs(8, 8)
    down, mid = _zero_residuals(ours, sample, emb, ids)
    with pytest.raises(ValueError, match="12 skip connections"):
        ours(sample, 0.5, emb, ids, down_block_additional_residuals=down[:-1], mid_block_additional_residual=mid)


def test_reference_latent_size_round_trip(pair):
    """64×36 latents (512×288 video): down 64×36 → 32×18 → 16×9 → 8×5, up back to 64×36."""
    _, ours = pair
    down_sizes, up_sizes = [], []
    hooks = [b.register_forward_hook(lambda m, i, o: down_sizes.append(tuple(o[0].shape[-2:]))) for b in ours.down_blocks]
    hooks += [b.register_forward_hook(lambda m, i, o: up_sizes.append(tuple(o.shape[-2:]))) for b in ours.up_blocks]
    sample, emb, ids = _inputs(64, 36, batch=1, frames=1)
    with torch.no_grad():
        out = ours(sample, 0.5, emb, ids).sample
    for h in hooks:
        h.remove()
    assert down_sizes == [(32, 18), (16, 9), (8, 5), (8, 5)]
    assert up_sizes == [(16, 9), (32, 18), (64, 36), (64, 36)]
    assert out.shape == (1, 1, 4, 64, 36)


def test_residual_dtypes(pair):
    """fp32 residuals: cast to a half-precision model's dtype, promoted under autocast."""
    _, ours = pair
    sample, emb, ids = _inputs(8, 8, batch=1, frames=2)
    down, mid = _zero_residuals(ours, sample, emb, ids)
    half = UNetSpatioTemporalControlModel(**TINY_UNET_CONFIG).to(torch.bfloat16).eval()
    with torch.no_grad():
        out = half(sample.bfloat16(), 0.5, emb.bfloat16(), ids.bfloat16(),
                   down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
        assert out.dtype == torch.bfloat16
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto = ours(sample, 0.5, emb, ids, down_block_additional_residuals=down,
                        mid_block_additional_residual=mid).sample
    assert torch.isfinite(auto).all()


# ------------------------------------------------------------------ temporal context order


@pytest.fixture(scope="module")
def stock_old_order(pair):
    """A stock diffusers UNet with the pair's weights whose transformers use the 0.24 order."""
    from old_temporal_context import old_order

    stock, _ = pair
    copy = UNetSpatioTemporalConditionModel(**TINY_UNET_CONFIG).eval()
    copy.load_state_dict(stock.state_dict(), strict=True)
    return old_order(copy)


def _distinct_batch(batch=2, h=8, w=6, frames=3, seed=4):
    sample, emb, ids = _inputs(h, w, batch=batch, frames=frames, seed=seed)
    emb[0] = 0.0  # like guidance: a zero negative embedding and a real positive one
    ids[:, 1] = torch.arange(batch) * 20.0 + 100.0
    return sample, emb, ids


def test_per_sample_mode_equals_stock_diffusers(pair):
    stock, ours = pair
    sample, emb, ids = _distinct_batch()
    assert ours.temporal_context == "per-sample"  # the models' default
    with torch.no_grad():
        torch.testing.assert_close(ours(sample, 0.8, emb, ids).sample, stock(sample, 0.8, emb, ids).sample,
                                   rtol=0, atol=0)


def test_reference_mode_equals_the_old_broadcast(pair, stock_old_order):
    _, ours = pair
    sample, emb, ids = _distinct_batch()
    with torch.no_grad(), ours.temporal_context_as("reference"):
        got = ours(sample, 0.8, emb, ids).sample
    with torch.no_grad():
        want = stock_old_order(sample, 0.8, emb, ids).sample
        per_sample = ours(sample, 0.8, emb, ids).sample
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert (got - per_sample).abs().max() > 1e-3  # the two orders differ with distinct contexts
    assert ours.temporal_context == "per-sample"  # temporal_context_as restores the mode


def test_batch_of_one_is_the_same_in_both_modes(pair, stock_old_order):
    stock, ours = pair
    sample, emb, ids = _inputs(8, 6, batch=1, frames=3, seed=9)
    with torch.no_grad():
        per_sample = ours(sample, 0.8, emb, ids).sample
        with ours.temporal_context_as("reference"):
            reference = ours(sample, 0.8, emb, ids).sample
        old = stock_old_order(sample, 0.8, emb, ids).sample
    assert torch.equal(per_sample, reference)
    torch.testing.assert_close(old, per_sample, rtol=0, atol=1e-6)


def test_switch_stays_inside_the_model(pair):
    """No diffusers class is modified: another UNet in the process keeps the stock order."""
    from diffusers.models.attention import TemporalBasicTransformerBlock

    stock, ours = pair
    forward = TemporalBasicTransformerBlock.forward
    sample, emb, ids = _distinct_batch()
    with torch.no_grad():
        before = stock(sample, 0.8, emb, ids).sample
        with ours.temporal_context_as("reference"):
            after = stock(sample, 0.8, emb, ids).sample
            assert ours.temporal_context == "reference"
            assert {type(m).__name__ for m in stock.modules()}.isdisjoint({"ContextOrderTemporalBlock"})
    assert TemporalBasicTransformerBlock.forward is forward
    assert torch.equal(before, after)
    assert set(ours.state_dict()) == set(stock.state_dict())


def test_temporal_context_names_are_checked(pair):
    _, ours = pair
    with pytest.raises(ValueError, match="temporal_context must be one of reference, per-sample"):
        ours.set_temporal_context("old")
    assert ours.temporal_context == "per-sample"
