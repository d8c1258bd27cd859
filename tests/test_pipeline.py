"""LeviTorPipeline on tiny random models saved in the real layouts (CPU, seconds)."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch

from levitor.generation.pipeline import LeviTorPipeline, guidance_scales
from levitor.generation.tiny import save_tiny_models



F = 4


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def pipe(tiny_dirs):
    p = LeviTorPipeline.from_pretrained(tiny_dirs["svd"], tiny_dirs["controlnet"], device="cpu")
    p.set_progress_bar_config(disable=True)
    return p


def scene(h=64, w=64, frames=F, seed=0):
    rng = np.random.RandomState(seed)
    image = (rng.rand(h, w, 3) * 255).astype(np.uint8)
    control = np.zeros((frames, 3, h, w), np.float32)
    for t in range(frames):
        r, c = 10 + 3 * t, 12 + 2 * t
        control[t, 0, r : r + 12, c : c + 12] = 200.0
        control[t, 1, r : r + 12, c : c + 12] = 1.0
        control[t, 2, r : r + 12, c : c + 12] = 40.0
    return image, control


def run(pipe, image, control, **kw):
    kw.setdefault("num_inference_steps", 2)
    kw.setdefault("output_type", "pt")
    return pipe(image, control, **kw).frames


def test_output_types_and_shapes(pipe):
    image, control = scene()
    pt = run(pipe, image, control)
    assert pt.shape == (1, F, 3, 64, 64) and pt.dtype == torch.float32
    assert 0.0 <= float(pt.min()) and float(pt.max()) <= 1.0
    np_frames = run(pipe, image, control, output_type="np")
    assert np_frames.shape == (1, F, 64, 64, 3)
    np.testing.assert_allclose(np_frames, pt.permute(0, 1, 3, 4, 2).numpy(), atol=1e-6)
    pil = run(pipe, PIL.Image.fromarray(image), control, output_type="pil")
    assert len(pil) == 1 and len(pil[0]) == F and pil[0][0].size == (64, 64)
    latents = run(pipe, image, torch.from_numpy(control), output_type="latent")
    assert latents.shape == (1, F, 4, 8, 8)


def test_comfy_image_layout_equals_uint8(pipe):
    image, control = scene()
    comfy = torch.from_numpy(image).float()[None] / 255.0  # (1, H, W, 3) in [0, 1]
    assert torch.equal(run(pipe, comfy, control), run(pipe, image, control))


def test_seed_determinism_and_generator(pipe):
    image, control = scene()
    a = run(pipe, image, control, seed=217)
    b = run(pipe, image, control)  # default seed 217
    c = run(pipe, image, control, generator=torch.Generator().manual_seed(217))
    d = run(pipe, image, control, seed=5)
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(a, d)


def test_noise_draw_order_and_initial_latents(pipe):
    """Exactly two draws: noise-aug (1,3,H,W) fp32, then latents (1,F,4,h,w) × init_noise_sigma."""
    image, control = scene()
    gen = torch.Generator().manual_seed(3)
    expected_gen = torch.Generator().manual_seed(3)
    torch.randn((1, 3, 64, 64), generator=expected_gen, dtype=torch.float32)
    lat0 = torch.randn((1, F, 4, 8, 8), generator=expected_gen, dtype=torch.float32)
    seen = []
    hook = pipe.unet.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    try:
        run(pipe, image, control, generator=gen, num_inference_steps=1, output_type="latent")
    finally:
        hook.remove()
    assert torch.equal(gen.get_state(), expected_gen.get_state())
    pipe.scheduler.set_timesteps(1)
    sigma0 = pipe.scheduler.sigmas[0]
    expected_in = lat0 * pipe.scheduler.init_noise_sigma / (sigma0**2 + 1) ** 0.5
    first = seen[0]
    assert first.shape == (2, F, 8, 8, 8)
    torch.testing.assert_close(first[0, :, :4], expected_in[0], rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(first[1, :, :4], expected_in[0], rtol=1e-5, atol=1e-4)
    assert torch.count_nonzero(first[0, :, 4:]) == 0  # unconditional half: zero image latents
    assert torch.count_nonzero(first[1, :, 4:]) > 0


def test_guidance_vector():
    g = guidance_scales(1.0, 3.0, 16)
    expected = [1.0 + 2.0 * i / 15 for i in range(16)]
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(g[:3].numpy(), [1.0, 1.1333333, 1.2666667], rtol=1e-6)


def test_frame_zero_is_unguided(pipe):
    """With one step, frame 0 depends only on the conditional half; later frames on the scale.

    (Per-sample context: in the reference order the conditional half also reads the
    unconditional half's context, so its frame 0 is not the unguided batch-1 prediction.)"""
    image, control = scene()
    kw = dict(num_inference_steps=1, output_type="latent", temporal_context="per-sample")
    g3 = run(pipe, image, control, min_guidance_scale=1.0, max_guidance_scale=3.0, **kw)
    g5 = run(pipe, image, control, min_guidance_scale=1.0, max_guidance_scale=5.0, **kw)
    torch.testing.assert_close(g3[:, 0], g5[:, 0], rtol=0, atol=1e-6)
    for f in range(1, F):
        assert not torch.allclose(g3[:, f], g5[:, f])
    # max <= 1 switches guidance off (conditional batch only): frame 0 is the same prediction
    nocfg = run(pipe, image, control, min_guidance_scale=1.0, max_guidance_scale=1.0, **kw)
    torch.testing.assert_close(nocfg[:, 0], g3[:, 0], rtol=1e-3, atol=1e-3)


def test_control_scale_zero_equals_no_controlnet(pipe):
    image, control = scene()
    plain = LeviTorPipeline(**{**pipe.components, "controlnet": None})
    plain.set_progress_bar_config(disable=True)
    zero = run(pipe, image, control, control_scale=0.0)
    none = run(plain, image, control)
    one = run(pipe, image, control, control_scale=1.0)
    assert torch.equal(zero, none)
    assert not torch.allclose(one, none)
    with pytest.warns(DeprecationWarning, match="control_scale"):
        assert torch.equal(run(pipe, image, control, controlnet_cond_scale=0.0), zero)


def test_control_maps_steer_the_result(pipe):
    image, control = scene()
    moved = np.roll(control, 8, axis=-1)
    a = run(pipe, image, control, output_type="latent")
    b = run(pipe, image, moved, output_type="latent")
    assert not torch.allclose(a, b)


def test_non_multiple_of_64_size(pipe):
    image, control = scene(h=72, w=40)
    out = run(pipe, image, control)
    assert out.shape == (1, F, 3, 72, 40)
    assert torch.isfinite(out).all()


def _decode_oracle(vae, latents, chunk):
    """Frames decoded straight with the VAE, ``chunk`` frames per call, mapped to [0, 1]."""
    flat = latents[0] / vae.config.scaling_factor
    with torch.no_grad():
        parts = [vae.decode(flat[i:i + chunk], num_frames=len(flat[i:i + chunk])).sample
                 for i in range(0, len(flat), chunk)]
    return (torch.cat(parts)[None] / 2 + 0.5).clamp(0, 1)


def test_decode_chunking_against_direct_vae_calls(pipe):
    image, control = scene()
    latents = run(pipe, image, control, output_type="latent")
    full = run(pipe, image, control, decode_chunk_size=None)
    chunked = run(pipe, image, control, decode_chunk_size=1)
    torch.testing.assert_close(full, _decode_oracle(pipe.vae, latents, F), rtol=0, atol=1e-6)
    torch.testing.assert_close(chunked, _decode_oracle(pipe.vae, latents, 1), rtol=0, atol=1e-6)
    # the temporal decoder mixes the frames of one call: one frame per call is another result
    assert (full - chunked).abs().max() > 1e-4


@pytest.mark.parametrize("offload", ["model", "sequential"])
def test_offload_modes_give_the_same_frames(tiny_dirs, pipe, offload):
    image, control = scene()
    off = LeviTorPipeline.from_pretrained(tiny_dirs["svd"], tiny_dirs["controlnet"], device="cpu", offload=offload)
    off.set_progress_bar_config(disable=True)
    assert hasattr(off.unet, "_hf_hook") and hasattr(off.controlnet, "_hf_hook")
    if offload == "sequential":
        # weights live off the execution path between calls and stream in per layer
        assert off.unet.conv_in.weight.device.type == "meta"
    # same computation; single-threaded CPU kernels may pick other blockings for moved weights,
    # so allow float rounding far below one 8-bit level
    torch.testing.assert_close(run(off, image, control), run(pipe, image, control), rtol=0, atol=2e-4)


def test_progress_callback_once_per_step_and_stop(pipe):
    image, control = scene()
    steps = []

    def count(p, i, t, kwargs):
        steps.append((i, float(t)))
        assert set(kwargs) == {"latents"}
        return kwargs

    run(pipe, image, control, num_inference_steps=3, callback_on_step_end=count)
    assert [s[0] for s in steps] == [0, 1, 2]
    assert steps[0][1] > steps[1][1] > steps[2][1]

    calls = []

    def stop(p, i, t, kwargs):
        calls.append(i)
        p._interrupt = True
        return kwargs

    run(pipe, image, control, num_inference_steps=3, callback_on_step_end=stop)
    assert calls == [0]

    def cancel(p, i, t, kwargs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(pipe, image, control, num_inference_steps=3, callback_on_step_end=cancel)
    # a stopped run leaves the pipeline usable
    assert run(pipe, image, control, num_inference_steps=1).shape == (1, F, 3, 64, 64)


def test_callback_can_replace_latents(pipe):
    image, control = scene()
    out = run(pipe, image, control, num_inference_steps=2, output_type="latent",
              callback_on_step_end=lambda p, i, t, kw: {"latents": torch.zeros_like(kw["latents"])})
    assert torch.count_nonzero(out) == 0


def test_bad_inputs_have_clear_errors(pipe):
    image, control = scene()
    with pytest.raises(ValueError, match="control maps are"):
        pipe(image[:56], control, num_inference_steps=1)
    with pytest.raises(ValueError, match="multiple of 8"):
        img, ctrl = scene(h=60, w=64)
        pipe(img, ctrl, num_inference_steps=1)
    with pytest.raises(ValueError, match=r"\(F, 3, H, W\)"):
        pipe(image, control[0], num_inference_steps=1)
    with pytest.raises(ValueError, match="channels"):
        pipe(image, control[:, :2], num_inference_steps=1)
    with pytest.raises(ValueError, match="output_type"):
        pipe(image, control, output_type="gif")
    with pytest.raises(ValueError, match="image"):
        pipe("image.png", control)


def test_plan_result_input(pipe, small_scene):
    from levitor.planning.plan import build_plan

    s = small_scene
    tracks = [[(12.0, 40.0, 1 / 150), (30.0, 36.0, 1 / 200)]]
    plan = build_plan(s["image"], s["depth"], s["object_masks"], s["static_masks"], tracks, num_frames=F)
    h, w = plan.control.shape[-2:]
    out = pipe(s["image"], plan, num_inference_steps=1, output_type="np").frames
    assert out.shape == (1, F, h, w, 3)


@pytest.mark.parametrize("precision", ["bf16", "fp16-autocast"])
def test_reduced_precision_runs(tiny_dirs, precision):
    image, control = scene()
    p = LeviTorPipeline.from_pretrained(tiny_dirs["svd"], tiny_dirs["controlnet"], device="cpu", precision=precision)
    p.set_progress_bar_config(disable=True)
    if precision == "fp16-autocast":
        assert p.unet.dtype == torch.float32 and p.controlnet.dtype == torch.float32
        assert p.vae.dtype == torch.float16 and p.image_encoder.dtype == torch.float16
        assert p.autocast_dtype == torch.float16
    else:
        assert p.unet.dtype == p.vae.dtype == p.controlnet.dtype == torch.bfloat16
    out = run(p, image, control)
    assert out.shape == (1, F, 3, 64, 64) and torch.isfinite(out).all()


def test_attention_uses_sdpa(pipe):
    from diffusers.models.attention_processor import AttnProcessor2_0

    for model in (pipe.unet, pipe.controlnet):
        assert all(isinstance(p, AttnProcessor2_0) for p in model.attn_processors.values())


def test_controlnet_instance_and_generator_list(tiny_dirs, pipe):
    from levitor.generation.loading import load_controlnet

    cn = load_controlnet(tiny_dirs["controlnet"])
    p = LeviTorPipeline.from_pretrained(tiny_dirs["svd"], cn, device="cpu")
    p.set_progress_bar_config(disable=True)
    image, control = scene()
    a = run(p, image, control, generator=[torch.Generator().manual_seed(217)])
    assert torch.equal(a, run(pipe, image, control))
    with pytest.raises(ValueError, match="one torch.Generator"):
        run(p, image, control, generator=[torch.Generator(), torch.Generator()])


def test_temporal_context_reaches_both_models(pipe):
    image, control = scene()
    seen = []

    def record(model):
        return model.register_forward_pre_hook(lambda m, args: seen.append((type(m).__name__, m.temporal_context)))

    hooks = [record(pipe.unet), record(pipe.controlnet)]
    try:
        assert pipe.temporal_context == "reference"  # the pipeline's default: the original's order
        default = run(pipe, image, control, num_inference_steps=1, output_type="latent")
        assert set(seen) == {("UNetSpatioTemporalControlModel", "reference"), ("ControlNetSVDModel", "reference")}
        seen.clear()
        per_sample = run(pipe, image, control, num_inference_steps=1, output_type="latent",
                         temporal_context="per-sample")
        assert set(seen) == {("UNetSpatioTemporalControlModel", "per-sample"), ("ControlNetSVDModel", "per-sample")}
    finally:
        for h in hooks:
            h.remove()
    assert (default - per_sample).abs().max() > 1e-4
    reference = run(pipe, image, control, num_inference_steps=1, output_type="latent", temporal_context="reference")
    assert torch.equal(default, reference)
    # the models are back in their own mode after a call
    assert pipe.unet.temporal_context == pipe.controlnet.temporal_context == "per-sample"
    # without guidance (one video in the batch) both orders compute the same
    kw = dict(num_inference_steps=1, output_type="latent", max_guidance_scale=1.0)
    assert torch.equal(run(pipe, image, control, temporal_context="reference", **kw),
                       run(pipe, image, control, temporal_context="per-sample", **kw))
    with pytest.raises(ValueError, match="temporal_context"):
        run(pipe, image, control, temporal_context="old")


def test_temporal_context_from_pretrained(tiny_dirs, pipe):
    image, control = scene()
    p = LeviTorPipeline.from_pretrained(tiny_dirs["svd"], tiny_dirs["controlnet"], device="cpu",
                                        temporal_context="per-sample")
    p.set_progress_bar_config(disable=True)
    assert p.temporal_context == "per-sample"
    kw = dict(num_inference_steps=1, output_type="latent")
    assert torch.equal(run(p, image, control, **kw), run(pipe, image, control, temporal_context="per-sample", **kw))
    with pytest.raises(ValueError, match="temporal_context"):
        LeviTorPipeline.from_pretrained(tiny_dirs["svd"], device="cpu", temporal_context="batch")


def test_inputs_are_checked_before_any_model_runs(pipe, monkeypatch):
    image, control = scene()

    def slow(*args, **kwargs):
        raise AssertionError("a model ran before the inputs were checked")

    monkeypatch.setattr(pipe, "encode_image", slow)
    bad = [dict(num_inference_steps=0), dict(decode_chunk_size=0), dict(noise_aug_strength=-1.0),
           dict(max_guidance_scale=float("nan")), dict(fps="6"), dict(output_type="gif"),
           dict(temporal_context="x"), dict(generator=[torch.Generator(), torch.Generator()])]
    for kwargs in bad:
        with pytest.raises(ValueError):
            pipe(image, control, **kwargs)
    with pytest.raises(ValueError, match="control maps are"):
        pipe(image[:56], control)


def test_save_pretrained_round_trip(pipe, tmp_path):
    import json

    image, control = scene()
    target = tmp_path / "saved"
    target.mkdir()
    (target / "notes.txt").write_text("kept")
    pipe.save_pretrained(target)
    index = json.loads((target / "model_index.json").read_text())
    assert index["controlnet"][1] == "ControlNetSVDModel" and index["unet"][1] == "UNetSpatioTemporalControlModel"
    assert (target / "controlnet" / "diffusion_pytorch_model.safetensors").is_file()
    assert (target / "notes.txt").read_text() == "kept"
    assert not list(tmp_path.glob(".saved*"))  # no temporary folder left behind
    loaded = LeviTorPipeline.from_pretrained(target, device="cpu")
    loaded.set_progress_bar_config(disable=True)
    assert loaded.controlnet is not None
    assert torch.equal(run(loaded, image, control), run(pipe, image, control))
    # a pipeline without ControlNet saves and loads as plain SVD
    plain = LeviTorPipeline(**{**pipe.components, "controlnet": None})
    plain.save_pretrained(tmp_path / "plain")
    assert LeviTorPipeline.from_pretrained(tmp_path / "plain", device="cpu").controlnet is None


def test_fp16_variant_falls_back_per_component(tiny_dirs, tmp_path):
    import shutil

    from safetensors.torch import load_file

    folder = tmp_path / "svd"
    shutil.copytree(tiny_dirs["svd"], folder)
    for sub in ("vae", "image_encoder"):  # only the UNet keeps .fp16 files
        for f in (folder / sub).glob("*.fp16.safetensors"):
            f.unlink()
    p = LeviTorPipeline.from_pretrained(folder, controlnet=tiny_dirs["controlnet"], variant="fp16",
                                        torch_dtype=torch.float32, device="cpu")
    assert p.unet.dtype == p.vae.dtype == p.controlnet.dtype == torch.float32
    half = load_file(folder / "unet" / "diffusion_pytorch_model.fp16.safetensors")
    full = load_file(folder / "vae" / "diffusion_pytorch_model.safetensors")
    assert torch.equal(p.unet.conv_in.weight, half["conv_in.weight"].float())  # the fp16 file, upcast
    assert torch.equal(p.vae.encoder.conv_in.weight, full["encoder.conv_in.weight"])  # the plain file
    with pytest.raises(ValueError, match="pass variant='fp16'"):
        for f in (folder / "unet").glob("diffusion_pytorch_model.safetensors"):
            f.unlink()
        LeviTorPipeline.from_pretrained(folder, variant=None, device="cpu")


def test_diffusers_keyword_arguments(tiny_dirs, tmp_path, pipe):
    import shutil

    image, control = scene()
    nested = tmp_path / "repo"
    shutil.copytree(tiny_dirs["svd"], nested / "svd-xt")
    p = LeviTorPipeline.from_pretrained(nested, tiny_dirs["controlnet"], subfolder="svd-xt", use_safetensors=True,
                                        low_cpu_mem_usage=False, device="cpu")
    p.set_progress_bar_config(disable=True)
    kw = dict(num_inference_steps=1, output_type="latent")
    assert torch.equal(run(p, image, control, **kw), run(pipe, image, control, **kw))
    refused = {"use_safetensors": (False, "safetensors"), "device_map": ("auto", "offload"),
               "cache_dir": ("x", "download"), "safety_checker": (None, "unknown arguments")}
    for key, (value, message) in refused.items():
        with pytest.raises(ValueError, match=message):
            LeviTorPipeline.from_pretrained(tiny_dirs["svd"], device="cpu", **{key: value})
    with pytest.raises(ValueError, match="not both"):
        LeviTorPipeline.from_pretrained(tiny_dirs["svd"], device="cpu", precision="fp16", torch_dtype=torch.float32)
    with pytest.raises(ValueError, match="torch_dtype"):
        LeviTorPipeline.from_pretrained(tiny_dirs["svd"], device="cpu", torch_dtype=torch.int8)
