"""The generator against the original implementation: ``fixtures/reference/tiny/pipeline_io_a``.

The original LeviTor pipeline ran on the tiny SVD + ControlNet folder (fp32, CPU, seed 217 on one
CPU generator, the "reference" temporal-attention context) and recorded every intermediate. We
load the same folder with our loaders, draw the control maps from the recorded keypoints with our
renderer, run :class:`LeviTorPipeline` with the recorded arguments, and compare each intermediate.

Tolerances: both runs are fp32 on CPU, but BLAS blocking and summation order differ between
library versions (diffusers 0.24 vs ours, other torch builds), so values agree to float32 rounding,
not bit for bit. Errors are compared relative to each tensor's scale: the first step's latents
are σ_max = 700 times the unit noise, so 1e-4 there is a relative error of 1.5e-7.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from levitor.generation.pipeline import LeviTorPipeline
from levitor.planning.control import draw_control_maps
from reference_data import load_case, reference_path


def close(actual, expected, what, rel=1e-5):
    """``|actual - expected| <= rel * max(1, max|expected|)`` elementwise, with a message."""
    actual = torch.as_tensor(actual).detach().float().cpu()
    expected = torch.as_tensor(expected).float()
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} vs reference {tuple(expected.shape)}"
    scale = max(1.0, float(expected.abs().max()))
    err = float((actual - expected).abs().max())
    assert err <= rel * scale, f"{what}: max error {err:.3g} vs reference (scale {scale:.3g}, allowed {rel * scale:.3g})"


@pytest.fixture(scope="module")
def case():
    return load_case("tiny", "pipeline_io_a")


@pytest.fixture(scope="module")
def run(case):
    """Our pipeline on the reference folder and arguments, with every intermediate recorded."""
    ref, meta = case
    folder = reference_path("tiny")
    kw = meta["call_kwargs"]
    pipe = LeviTorPipeline.from_pretrained(folder, folder / "controlnet", variant="fp16", torch_dtype=torch.float32,
                                           device="cpu", temporal_context="reference")
    pipe.set_progress_bar_config(disable=True)
    control = draw_control_maps([np.asarray(k) for k in meta["point_tracks"]], kw["height"], kw["width"],
                                radius=kw["side"])
    seen = {"steps": [], "vae_in": [], "controlnet_in": []}
    hooks = [
        pipe.vae.encoder.register_forward_pre_hook(lambda m, args: seen["vae_in"].append(args[0].clone())),
        pipe.controlnet.register_forward_pre_hook(lambda m, args: seen["controlnet_in"].append(args[0].clone())),
    ]

    def record(p, i, t, tensors):
        seen["steps"].append((float(t), {k: v.clone() for k, v in tensors.items()}))
        return {}

    generator = torch.Generator("cpu").manual_seed(meta["seed"])
    try:
        frames = pipe(
            ref["image_uint8"].numpy(), control, num_inference_steps=kw["num_inference_steps"],
            min_guidance_scale=kw["min_guidance_scale"], max_guidance_scale=kw["max_guidance_scale"], fps=kw["fps"],
            motion_bucket_id=kw["motion_bucket_id"], noise_aug_strength=kw["noise_aug_strength"],
            control_scale=kw["controlnet_cond_scale"], decode_chunk_size=kw["decode_chunk_size"],
            generator=generator, output_type="pt", temporal_context="reference", callback_on_step_end=record,
            callback_on_step_end_tensor_inputs=list(pipe._callback_tensor_inputs),
        ).frames
    finally:
        for h in hooks:
            h.remove()
    return dict(pipe=pipe, control=control, frames=frames, **seen)


def test_recorded_arguments_are_the_readme_ones(case):
    _, meta = case
    kw = meta["call_kwargs"]
    assert (kw["height"], kw["width"], kw["num_frames"], kw["num_inference_steps"]) == (96, 72, 4, 4)
    assert not kw["with_id_feature"] and kw["with_control"] and not kw["middle_max_guidance"]
    assert meta["seed"] == 217 and meta["generator"] == "torch.Generator('cpu').manual_seed(seed)"


def test_seed_reproduces_the_recorded_noise_draws(case):
    """The original drew noise augmentation first, then the initial latents, from the passed CPU
    generator (its later draws are the scheduler's, from the global RNG, scaled by s_churn = 0)."""
    ref, meta = case
    passed = [c for c in meta["rng_calls"] if c["generator"] == "passed"]
    assert [tuple(c["shape"]) for c in passed] == [tuple(ref["noise_aug_randn"].shape),
                                                   tuple(ref["init_latents_randn"].shape)]
    generator = torch.Generator("cpu").manual_seed(meta["seed"])
    for call, name in zip(passed, ("noise_aug_randn", "init_latents_randn")):
        assert call["dtype"] == "torch.float32" and call["device"] == "cpu"
        assert torch.equal(torch.randn(call["shape"], generator=generator, dtype=torch.float32), ref[name]), name


def test_control_maps_match(case, run):
    ref, _ = case
    np.testing.assert_array_equal(run["control"], ref["control_u8"].numpy().astype(np.float32))
    _, tensors = run["steps"][0]
    cond = tensors["controlnet_cond"]
    assert cond.shape[0] == 2  # the ControlNet sees the same maps for both guidance halves
    for half in cond:
        assert torch.equal(half, ref["control_u8"].float())


def test_conditioning_matches(case, run):
    ref, _ = case
    close(run["vae_in"][0], ref["vae_input_image"], "VAE input (noise-augmented image)")
    _, tensors = run["steps"][0]
    close(tensors["image_embeddings"], ref["image_embeddings"], "CLIP image embeddings")
    latents = tensors["image_latents"]
    for f in range(latents.shape[1]):  # the first-frame latents repeated over the frames
        close(latents[:, f], ref["image_latents"], f"image latents, frame {f}")
    close(run["controlnet_in"][0], ref["step0_controlnet_input"], "step 0 ControlNet input")


def test_scheduler_tables_and_guidance_match(case, run):
    ref, meta = case
    scheduler = run["pipe"].scheduler
    close(scheduler.timesteps, ref["timesteps"], "timesteps")
    close(scheduler.sigmas, ref["sigmas"], "sigmas")
    assert abs(float(scheduler.init_noise_sigma) - meta["init_noise_sigma"]) <= 1e-5 * meta["init_noise_sigma"]
    _, tensors = run["steps"][0]
    close(tensors["guidance_scale"], ref["guidance_scale"], "guidance scale")


def test_every_step_matches(case, run):
    ref, meta = case
    steps = run["steps"]
    assert len(steps) == meta["call_kwargs"]["num_inference_steps"]
    for i, (t, tensors) in enumerate(steps):
        close(torch.tensor([t]), ref[f"step{i}.timestep"], f"step {i} timestep")
        close(tensors["model_output"], ref[f"step{i}.unet_out"], f"step {i} UNet output (both guidance halves)")
        close(tensors["latents"], ref[f"step{i}.latents_after"], f"step {i} latents after the step")


def test_frames_match(case, run):
    ref, _ = case
    assert run["frames"].shape == (1, *ref["frames"].shape)
    close(run["frames"][0], ref["frames"], "frames")
