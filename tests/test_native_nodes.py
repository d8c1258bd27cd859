"""The native nodes' logic (nodes/native.py) against the fake host, on tiny real weights.

LeviTorControlNetLoader, LeviTorApplyControlNet and LeviTorSVDConditioning are run as ComfyUI runs
them (``run_node``), with the host's ControlBase, ops and patcher stood in by ``fakes.comfy_host``.
The oracles are the library's own model and conditioning functions, called directly: the residuals
the control hands to ComfyUI's UNet equal ``ControlNetSVDModel.forward`` on the same inputs; the
conditioning equals ``encode_clip_image`` / ``encode_first_frame_latents``. The real host runs
the same checks inside ComfyUI (tests/integration/native_host_check.py).
"""

from __future__ import annotations

import math
import shutil
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from fakes.comfy_host import PACK_NAME, fake_host, node_map, pack, run_node  # noqa: F401  (fixtures)
from levitor.generation.conditioning import encode_clip_image, encode_first_frame_latents
from levitor.generation.loading import load_controlnet
from levitor.generation.tiny import save_tiny_models

FRAMES, H, W = 3, 64, 48


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def native(pack):
    return sys.modules[f"{PACK_NAME}.nodes.native"]


@pytest.fixture
def controlnet_files(fake_host, tiny):
    """models/controlnet with the released layout under another name (in fp16) and a diffusers folder."""
    root = fake_host.models_dir / "controlnet"
    root.mkdir()
    state = load_file(str(tiny["controlnet"] / "diffusion_pytorch_model.safetensors"))
    save_file({k: v.half() for k, v in state.items()}, str(root / "levitor_fp16.safetensors"))
    shutil.copytree(tiny["controlnet"], root / "levitor_folder")
    return state


class EDMSampling:
    """SVD's model sampling in ComfyUI (continuous EDM, v-prediction, σ_data = 1)."""

    def calculate_input(self, sigma, noise):
        return noise / (sigma.view(-1, 1, 1, 1) ** 2 + 1) ** 0.5

    def timestep(self, sigma):
        return 0.25 * sigma.log()

    def percent_to_sigma(self, percent):
        return 700.0 * (0.002 / 700.0) ** percent  # log-linear from σ_max to σ_min


def micro_conditioning(ids: torch.Tensor, dim: int) -> torch.Tensor:
    """ComfyUI's ``y`` for SVD: each of fps − 1, motion bucket and augmentation embedded with a
    ``dim``-wide sinusoid (cosines first, frequencies 10000^(−i/half)), concatenated."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = ids.reshape(-1, 1).float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1).reshape(ids.shape[0], -1)


def node(pack, name):
    return node_map(pack)[name]


def test_loader_lists_and_loads_files_and_folders(pack, native, controlnet_files, fake_host):
    loader = node(pack, "LeviTorControlNetLoader")
    assert native.controlnet_choices() == ["levitor_folder", "levitor_fp16.safetensors"]
    for name, dtype in (("levitor_fp16.safetensors", torch.float16), ("levitor_folder", torch.float32)):
        loaded = run_node(loader, name).args[0]
        state = loaded.net.state_dict()
        assert set(state) == set(controlnet_files)
        for key, value in controlnet_files.items():  # the file's tensors, as the file holds them
            assert torch.equal(state[key], value.to(dtype).float()), (name, key)
        assert loaded.compute_dtype == torch.float32 and loaded.net.dtype == torch.float32
        # every layer on ComfyUI's casting classes, held by a patcher on the host's devices
        ops = sys.modules["comfy.ops"].disable_weight_init
        kinds = {type(m) for m in loaded.net.modules()}
        assert ops.Linear in kinds and ops.Conv2d in kinds and torch.nn.Linear not in kinds
        assert loaded.patcher.model.net is loaded.net and loaded.patcher.load_device == torch.device("cpu")
    with pytest.raises(ValueError, match="no LeviTor ControlNet found"):
        run_node(loader, native.NO_CONTROLNET)


def _conditioning(latent_hw=(H // 8, W // 8), dim=32):
    pos = [[torch.randn(1, 1, dim), {"concat_latent_image": torch.randn(1, 4, *latent_hw), "fps": 6}]]
    neg = [[torch.zeros(1, 1, dim), {"concat_latent_image": torch.zeros(1, 4, *latent_hw), "fps": 6}]]
    return pos, neg


def test_apply_gives_the_controlnet_residuals_scaled_by_strength(pack, native, controlnet_files, tiny):
    torch.manual_seed(0)
    cn = run_node(node(pack, "LeviTorControlNetLoader"), "levitor_folder").args[0]
    maps = torch.rand((FRAMES, 3, H, W)) * 255
    pos, neg = _conditioning()
    strength = 0.7
    pos_out, neg_out = run_node(node(pack, "LeviTorApplyControlNet"), pos, neg, cn, maps.numpy(), strength,
                                0.0, 1.0).args
    control = pos_out[0][1]["control"]
    assert neg_out[0][1]["control"] is control  # one control on both CFG halves
    assert pos[0][1].get("control") is None  # the inputs are not modified
    assert cn.patcher in control.get_models()

    sampling = EDMSampling()
    control.pre_run(type("Model", (), {"model_sampling": sampling})(), sampling.percent_to_sigma)
    videos = 2
    x = torch.randn((videos * FRAMES, 4, H // 8, W // 8)) * 5
    sigma = torch.full((videos * FRAMES,), 3.7)
    c_concat = torch.randn((videos * FRAMES, 4, H // 8, W // 8))
    context = torch.randn((videos, 1, 32))
    ids = torch.tensor([[5.0, 100.0, 0.02], [7.0, 30.0, 0.5]])
    reference = load_controlnet(tiny["controlnet"])
    embed_dim = reference.config.addition_time_embed_dim
    # the sinusoid ComfyUI embeds y with is the model's own add_time_proj
    torch.testing.assert_close(micro_conditioning(ids, embed_dim),
                               reference.add_time_proj(ids.flatten()).reshape(videos, -1), rtol=0, atol=1e-6)
    cond = {"c_concat": c_concat, "c_crossattn": context.repeat_interleave(FRAMES, 0),
            "y": micro_conditioning(ids, embed_dim).repeat_interleave(FRAMES, 0), "num_video_frames": FRAMES}
    with torch.no_grad():
        out = control.get_control(x, sigma, cond, videos, {})
        scaled = x / (sigma[:, None, None, None] ** 2 + 1) ** 0.5
        sample = torch.cat([scaled, c_concat], 1).reshape(videos, FRAMES, 8, H // 8, W // 8)
        down, mid = reference(sample, 0.25 * torch.log(sigma[:1]), context, ids,
                              maps[None].repeat(videos, 1, 1, 1, 1), return_dict=False)
    assert len(out["output"]) == len(down) == 12 and len(out["middle"]) == 1
    scale = max(float(t.abs().max()) for t in [*down, mid])
    for ours, theirs in zip([*out["output"], *out["middle"]], [*down, mid]):
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, strength * theirs, rtol=0, atol=1e-5 * scale)

    # a second LeviTor control chained on the first adds its residuals to the first one's
    pos2, neg2 = run_node(node(pack, "LeviTorApplyControlNet"), pos_out, neg_out, cn, maps.numpy(), 1.0,
                          0.0, 1.0).args
    chained = pos2[0][1]["control"]
    assert chained.previous_controlnet is control
    chained.pre_run(type("Model", (), {"model_sampling": sampling})(), sampling.percent_to_sigma)
    with torch.no_grad():
        both = chained.get_control(x, sigma, cond, videos, {})
    torch.testing.assert_close(both["middle"][0], (1.0 + strength) * mid, rtol=0, atol=2e-5 * scale)


def test_apply_respects_the_sampling_range_and_zero_strength(pack, native, controlnet_files):
    cn = run_node(node(pack, "LeviTorControlNetLoader"), "levitor_folder").args[0]
    maps = torch.rand((FRAMES, 3, H, W)) * 255
    pos, neg = _conditioning()
    apply = node(pack, "LeviTorApplyControlNet")
    assert run_node(apply, pos, neg, cn, maps, 0.0, 0.0, 1.0).args == (pos, neg)  # strength 0: untouched
    control = run_node(apply, pos, neg, cn, maps, 1.0, 0.5, 1.0).args[0][0][1]["control"]
    sampling = EDMSampling()
    control.pre_run(type("Model", (), {"model_sampling": sampling})(), sampling.percent_to_sigma)
    start, end = control.timestep_range
    assert math.isclose(float(start), sampling.percent_to_sigma(0.5)) and math.isclose(float(end), 0.002)
    early = torch.full((FRAMES,), 100.0)  # above the σ of 50 %: before the control starts
    cond = {"c_concat": torch.zeros(FRAMES, 4, H // 8, W // 8), "c_crossattn": torch.zeros(FRAMES, 1, 32),
            "y": torch.zeros(FRAMES, 24), "num_video_frames": FRAMES}
    assert control.get_control(torch.zeros(FRAMES, 4, H // 8, W // 8), early, cond, 1, {}) is None


def test_apply_refuses_what_does_not_fit(pack, native, controlnet_files):
    cn = run_node(node(pack, "LeviTorControlNetLoader"), "levitor_fp16.safetensors").args[0]
    apply = node(pack, "LeviTorApplyControlNet")
    pos, neg = _conditioning()
    maps = torch.rand((FRAMES, 3, H, W))
    with pytest.raises(ValueError, match="2 channels but the ControlNet expects 3"):
        run_node(apply, pos, neg, cn, maps[:, :2], 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="must not exceed end_percent"):
        run_node(apply, pos, neg, cn, maps, 1.0, 0.8, 0.2)
    small_pos, small_neg = _conditioning(latent_hw=(4, 4))
    with pytest.raises(ValueError, match=f"{W}x{H} .*latent is for 32x32"):
        run_node(apply, small_pos, small_neg, cn, maps, 1.0, 0.0, 1.0)
    control = run_node(apply, pos, neg, cn, maps, 1.0, 0.0, 1.0).args[0][0][1]["control"]
    with pytest.raises(ValueError, match=f"has {FRAMES} frames but the video latent has {FRAMES + 1}"):
        control.get_control(torch.zeros(FRAMES + 1, 4, H // 8, W // 8), torch.ones(FRAMES + 1),
                            {"c_concat": 0, "y": 0, "num_video_frames": FRAMES + 1}, 1, {})
    with pytest.raises(ValueError, match="needs an SVD img2vid model"):
        control.get_control(torch.zeros(FRAMES, 4, H // 8, W // 8), torch.ones(FRAMES), {}, 1, {})


class ClipVision:
    """ComfyUI's CLIP vision object around the tiny image encoder: ``model(pixel_values=...)`` answers
    a tuple whose third item is the projected image embedding."""

    def __init__(self, encoder, feature_extractor):
        self.image_size = feature_extractor.crop_size["height"]
        self.image_mean, self.image_std = feature_extractor.image_mean, feature_extractor.image_std
        self.load_device, self.patcher = torch.device("cpu"), object()
        self.model = lambda pixel_values, intermediate_output=None: (
            None, None, encoder(pixel_values=pixel_values).image_embeds)


class Vae:
    """ComfyUI's VAE around the tiny one: ``encode`` takes ``(B, H, W, 3)`` in [0, 1], answers the
    unscaled latent mode."""

    def __init__(self, vae):
        self.vae = vae

    def encode(self, pixels):
        return self.vae.encode(pixels.movedim(-1, 1) * 2 - 1).latent_dist.mode()


def test_svd_conditioning_equals_the_library_conditioning(pack, native, tiny, fake_host):
    from levitor.generation.pipeline import LeviTorPipeline

    pipe = LeviTorPipeline.from_pretrained(tiny["svd"], device="cpu")
    g = torch.Generator().manual_seed(4)
    image = torch.rand((1, H, W, 3), generator=g)
    maps = torch.rand((FRAMES, 3, H, W), generator=g) * 255
    fps, motion, aug, seed = 7, 90, 0.05, 123
    with torch.no_grad():
        pos, neg, latent = run_node(node(pack, "LeviTorSVDConditioning"),
                                    ClipVision(pipe.image_encoder, pipe.feature_extractor), image,
                                    Vae(pipe.vae), maps, fps, motion, aug, seed).args
        pixels = image.movedim(-1, 1) * 2 - 1
        embed = encode_clip_image(pipe.image_encoder, pipe.feature_extractor, pixels)
        first = encode_first_frame_latents(pipe.vae, pixels, aug, generator=torch.Generator("cpu").manual_seed(seed))
    torch.testing.assert_close(pos[0][0], embed, rtol=0, atol=1e-6)
    torch.testing.assert_close(pos[0][1]["concat_latent_image"], first, rtol=0, atol=1e-5)
    assert pos[0][1]["fps"] == fps and pos[0][1]["motion_bucket_id"] == motion
    assert pos[0][1]["augmentation_level"] == aug
    assert torch.count_nonzero(neg[0][0]) == 0 and torch.count_nonzero(neg[0][1]["concat_latent_image"]) == 0
    assert latent["samples"].shape == (FRAMES, 4, H // 8, W // 8) and torch.count_nonzero(latent["samples"]) == 0
    with pytest.raises(ValueError, match="use the image the control was planned on"):
        run_node(node(pack, "LeviTorSVDConditioning"), ClipVision(pipe.image_encoder, pipe.feature_extractor),
                 image[:, :32], Vae(pipe.vae), maps, fps, motion, aug, seed)
