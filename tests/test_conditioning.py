"""The image conditioning shared by sampling and training (levitor.generation.conditioning)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from levitor.generation import conditioning as cond
from levitor.generation.pipeline import LeviTorPipeline
from levitor.generation.tiny import save_tiny_models


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("tiny"), fp16_variant=False)


@pytest.fixture(scope="module")
def pipe(tiny_dirs):
    p = LeviTorPipeline.from_pretrained(tiny_dirs["svd"], tiny_dirs["controlnet"], device="cpu")
    p.set_progress_bar_config(disable=True)
    return p


@pytest.mark.parametrize("size", [(512, 288), (64, 48), (300, 700)])
def test_clip_resize_is_the_original_pipelines(size):
    """Blur then bicubic, as the original pipeline (the helper diffusers' SVD pipeline still ships)."""
    from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import _resize_with_antialiasing

    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    torch.testing.assert_close(cond.resize_for_clip(x, (224, 224)), _resize_with_antialiasing(x, (224, 224)),
                               rtol=0, atol=1e-6)


def test_clip_blur_by_hand():
    """A 1-px impulse in a 448-wide row: σ = (448/224 - 1)/2 = 0.5, 3 taps exp(-2) : 1 : exp(-2)."""
    x = torch.zeros(1, 1, 3, 9)
    x[0, 0, :, 4] = 1.0
    taps = cond._gaussian_taps(0.5, torch.float32, torch.device("cpu"))
    e = np.exp(-2.0)
    np.testing.assert_allclose(taps.numpy(), [e / (1 + 2 * e), 1 / (1 + 2 * e), e / (1 + 2 * e)], rtol=1e-6)
    blurred = cond._blur_axis(x, taps, axis=3)
    np.testing.assert_allclose(blurred[0, 0, 1, 3:6].numpy(), taps.numpy(), rtol=1e-6)
    assert cond._gaussian_taps(3.0, torch.float32, torch.device("cpu")).numel() == 13  # int(4σ)=12 -> odd


def test_clip_normalisation_equals_the_feature_extractor(pipe):
    """What the original did: CLIPImageProcessor(do_normalize only) on the resized image."""
    x = torch.rand(1, 3, 64, 48, generator=torch.Generator().manual_seed(2)) * 2 - 1
    resized = (cond.resize_for_clip(x, (224, 224)) + 1) / 2
    want = pipe.feature_extractor(images=resized, do_normalize=True, do_center_crop=False, do_resize=False,
                                  do_rescale=False, return_tensors="pt").pixel_values
    torch.testing.assert_close(cond.clip_pixels(x, pipe.image_encoder, pipe.feature_extractor), want,
                               rtol=0, atol=1e-6)


def test_added_time_ids_by_hand():
    ids = cond.added_time_ids(6, 127, 0.02, 2)
    assert ids.tolist() == [[5.0, 127.0, pytest.approx(0.02)]] * 2


def test_half_vae_encodes_in_fp32_and_stays_half(pipe):
    vae = type(pipe.vae).from_config(pipe.vae.config)
    vae.load_state_dict(pipe.vae.state_dict())
    assert vae.config.force_upcast
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    want = vae.encode(x).latent_dist.mode()
    vae.to(torch.float16)
    got = cond.vae_encode(vae, x, sample=False)
    assert vae.dtype == torch.float16 and got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)  # fp32 compute on fp16-rounded weights


def test_trainer_and_pipeline_feed_the_networks_identical_conditioning(pipe):
    """Same image and settings: the ControlNet gets the same CLIP embedding, image latents
    (noise augmentation included), time ids and control maps in training and in sampling."""
    from levitor.training.trainer import TrainConfig, compute_loss

    h, w, f = 64, 48, 2
    rng = np.random.RandomState(0)
    frames = torch.from_numpy((rng.rand(1, f, 3, h, w) * 255).astype(np.uint8))
    control = torch.from_numpy((rng.rand(1, f, 3, h, w) * 50).astype(np.float32))
    seen = []

    def record(module, args, kwargs):
        names = ("sample", "timestep", "encoder_hidden_states", "added_time_ids", "controlnet_cond")
        values = dict(zip(names, args), **kwargs)
        seen.append({k: values[k].detach().clone() for k in names if k != "timestep"})

    cfg = TrainConfig(fps=7, motion_bucket_id=90, noise_aug_strength=0.05, conditioning_dropout_prob=0.0,
                      control_dropout_prob=0.0, vae_encode_chunk_size=8)
    hook = pipe.controlnet.register_forward_pre_hook(record, with_kwargs=True)
    try:
        with torch.no_grad():
            compute_loss(cfg, {"frames": frames, "control": control}, torch.Generator().manual_seed(11),
                         controlnet=pipe.controlnet, unet=pipe.unet, vae=pipe.vae, image_encoder=pipe.image_encoder,
                         feature_extractor=pipe.feature_extractor, device="cpu")
        # the trainer's first draw is the VAE sample of the clip; the pipeline's first is the noise augmentation
        generator = torch.Generator().manual_seed(11)
        torch.randn((f, 4, h // 8, w // 8), generator=generator)
        pipe(frames[0, 0].permute(1, 2, 0).numpy(), control[0], num_inference_steps=1, fps=7, motion_bucket_id=90,
             noise_aug_strength=0.05, generator=generator, output_type="latent", temporal_context="per-sample")
    finally:
        hook.remove()
    train, sample = seen[0], seen[1]
    assert torch.equal(train["encoder_hidden_states"][0], sample["encoder_hidden_states"][1])  # [uncond, cond]
    assert torch.equal(train["sample"][0, :, 4:], sample["sample"][1, :, 4:])
    assert torch.equal(train["added_time_ids"][0], sample["added_time_ids"][1])
    assert torch.equal(train["controlnet_cond"][0], sample["controlnet_cond"][1])
    assert torch.count_nonzero(train["sample"][0, :, 4:]) > 0
