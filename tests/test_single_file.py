"""SVD as one SGM-layout file: key names, exact round trip, strict loading, clear errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from fakes.tiny_svd_file import save_tiny_svd_file
from levitor.generation import single_file as sf
from levitor.generation.loading import resolve_precision
from levitor.generation.pipeline import LeviTorPipeline

FP32 = resolve_precision("fp32", "cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("svd") / "svd_xt.safetensors"
    parts = save_tiny_svd_file(path)
    return path, parts


def test_sgm_names_follow_the_original_layout(tiny):
    """Names read off the SGM module tree by hand: 3 input blocks per level, 3 output blocks per
    level with the upsampler after the attention, the VAE decoder's levels counted from the bottom,
    OpenCLIP's stacked q/k/v and transposed projection."""
    path, parts = tiny
    sd = load_file(str(path))
    unet, vae, clip = parts["unet"].state_dict(), parts["vae"].state_dict(), parts["image_encoder"].state_dict()
    u, v, c = sf.UNET_PREFIX, sf.VAE_PREFIX, sf.CLIP_PREFIX
    assert torch.equal(sd[u + "input_blocks.3.0.op.weight"], unet["down_blocks.0.downsamplers.0.conv.weight"])
    assert torch.equal(sd[u + "input_blocks.4.1.time_stack.0.attn1.to_q.weight"],
                       unet["down_blocks.1.attentions.0.temporal_transformer_blocks.0.attn1.to_q.weight"])
    assert torch.equal(sd[u + "input_blocks.7.0.skip_connection.weight"],
                       unet["down_blocks.2.resnets.0.spatial_res_block.conv_shortcut.weight"])
    assert torch.equal(sd[u + "output_blocks.2.1.conv.weight"], unet["up_blocks.0.upsamplers.0.conv.weight"])
    assert torch.equal(sd[u + "output_blocks.5.2.conv.weight"], unet["up_blocks.1.upsamplers.0.conv.weight"])
    assert torch.equal(sd[u + "middle_block.2.time_stack.out_layers.3.weight"],
                       unet["mid_block.resnets.1.temporal_res_block.conv2.weight"])
    assert torch.equal(sd[u + "label_emb.0.2.bias"], unet["add_embedding.linear_2.bias"])
    assert torch.equal(sd[v + "decoder.up.3.block.2.time_stack.in_layers.2.weight"],
                       vae["decoder.up_blocks.0.resnets.2.temporal_res_block.conv1.weight"])
    assert torch.equal(sd[v + "decoder.mid.block_2.mix_factor"], vae["decoder.mid_block.resnets.1.time_mixer.mix_factor"])
    assert torch.equal(sd[v + "decoder.conv_out.time_mix_conv.weight"], vae["decoder.time_conv_out.weight"])
    assert torch.equal(sd[v + "encoder.mid.attn_1.q.weight"][:, :, 0, 0], vae["encoder.mid_block.attentions.0.to_q.weight"])
    qkv = torch.cat([clip[f"vision_model.encoder.layers.1.self_attn.{n}_proj.weight"] for n in "qkv"])
    assert torch.equal(sd[c + "transformer.resblocks.1.attn.in_proj_weight"], qkv)
    assert torch.equal(sd[c + "proj"], clip["visual_projection.weight"].t())
    assert not any("quant_conv" in k for k in sd)


def test_round_trip_is_exact(tiny):
    path, parts = tiny
    loaded = sf.load_single_file(path, FP32)
    for name in ("unet", "vae", "image_encoder"):
        a, b = parts[name].state_dict(), loaded[name].state_dict()
        assert set(a) == set(b)
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    assert dict(loaded["unet"].config)["num_attention_heads"] == [1, 1, 2, 2]


def test_configs_from_shapes_alone(tiny):
    """Without the metadata the shapes give every architecture number except the head counts."""
    path, parts = tiny
    state = load_file(str(path))
    cfg = sf.sgm_to_diffusers(state, None)
    ucfg = parts["unet"].config
    for key in ("in_channels", "out_channels", "block_out_channels", "layers_per_block", "cross_attention_dim",
                "addition_time_embed_dim", "projection_class_embeddings_input_dim", "down_block_types",
                "up_block_types", "transformer_layers_per_block"):
        got, want = cfg["unet"][key], ucfg[key]
        assert (list(got) if isinstance(got, (list, tuple)) else got) == (list(want) if isinstance(want, (list, tuple)) else want), key
    assert cfg["vae"]["block_out_channels"] == [32, 32, 32, 32] and cfg["vae"]["layers_per_block"] == 2
    ccfg = parts["image_encoder"].config
    assert (cfg["image_encoder"]["hidden_size"], cfg["image_encoder"]["num_hidden_layers"],
            cfg["image_encoder"]["patch_size"], cfg["image_encoder"]["image_size"]) == (
        ccfg.hidden_size, ccfg.num_hidden_layers, ccfg.patch_size, ccfg.image_size)


def _rewrite(src, dst, edit):
    state = load_file(str(src))
    from safetensors import safe_open

    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    edit(state)
    save_file(state, str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize("edit, words", [
    (lambda s: s.pop(sf.UNET_PREFIX + "input_blocks.1.0.in_layers.2.weight"), "1 missing"),
    (lambda s: s.__setitem__(sf.VAE_PREFIX + "decoder.extra.weight", torch.zeros(1)), "no place in the SVD VAE"),
    (lambda s: s.__setitem__(sf.CLIP_PREFIX + "ln_post.weight", torch.zeros(7)), "other shapes"),
])
def test_strict_key_check(tiny, tmp_path, edit, words):
    path, _ = tiny
    bad = _rewrite(path, tmp_path / "bad.safetensors", edit)
    with pytest.raises(ValueError, match=words) as err:
        sf.load_single_file(bad, FP32)
    assert "bad.safetensors" in str(err.value)


def test_not_an_img2vid_svd(tmp_path):
    sd15 = {sf.UNET_PREFIX + "input_blocks.0.0.weight": torch.zeros(320, 4, 3, 3),
            sf.UNET_PREFIX + "input_blocks.1.1.proj_in.weight": torch.zeros(320, 320, 1, 1)}
    save_file(sd15, str(tmp_path / "sd15.safetensors"))
    with pytest.raises(ValueError, match="without temporal layers"):
        sf.load_single_file(tmp_path / "sd15.safetensors", FP32)
    svd_t2v = {sf.UNET_PREFIX + "input_blocks.0.0.weight": torch.zeros(32, 4, 3, 3),
               sf.UNET_PREFIX + "input_blocks.1.0.time_stack.in_layers.0.weight": torch.zeros(32)}
    save_file(svd_t2v, str(tmp_path / "t2v.safetensors"))
    with pytest.raises(ValueError, match="4 input channels"):
        sf.load_single_file(tmp_path / "t2v.safetensors", FP32)
    save_file({"first_stage_model.encoder.conv_in.weight": torch.zeros(1)}, str(tmp_path / "vae.safetensors"))
    with pytest.raises(ValueError, match="not a Stable Video Diffusion checkpoint"):
        sf.load_single_file(tmp_path / "vae.safetensors", FP32)
    (tmp_path / "broken.safetensors").write_bytes(b"\x00" * 12)
    with pytest.raises(ValueError, match="broken.safetensors: not a readable"):
        sf.load_single_file(tmp_path / "broken.safetensors", FP32)
    with pytest.raises(ValueError, match="only .safetensors"):
        (tmp_path / "svd.ckpt").write_bytes(b"x")
        sf.load_single_file(tmp_path / "svd.ckpt", FP32)


def test_from_single_file_equals_the_diffusers_folder(tiny, tmp_path):
    """The same weights from the SGM file and from a diffusers folder give the same video."""
    from diffusers import StableVideoDiffusionPipeline

    path, parts = tiny
    controlnet = parts["controlnet"]
    folder = tmp_path / "svd"
    StableVideoDiffusionPipeline(unet=parts["unet"], vae=parts["vae"], image_encoder=parts["image_encoder"],
                                 feature_extractor=parts["feature_extractor"],
                                 scheduler=parts["scheduler"]).save_pretrained(folder, safe_serialization=True)
    cn_dir = tmp_path / "controlnet"
    controlnet.save_pretrained(cn_dir, safe_serialization=True)
    a = LeviTorPipeline.from_single_file(path, cn_dir, precision="fp32", device="cpu")
    b = LeviTorPipeline.from_pretrained(folder, cn_dir, precision="fp32", device="cpu", variant=None)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    control = rng.uniform(0, 255, (3, 3, 64, 64)).astype(np.float32)
    kw = dict(num_inference_steps=2, output_type="np", seed=5)
    fa, fb = a(image, control, **kw).frames, b(image, control, **kw).frames
    assert fa.shape == (1, 3, 64, 64, 3)
    np.testing.assert_array_equal(fa, fb)
    # from_pretrained reads the file too (one SVD loader), with a ControlNet file under another name
    alone = tmp_path / "loose" / "levitor_controlnet.safetensors"
    alone.parent.mkdir()
    shutil.copy(cn_dir / "diffusion_pytorch_model.safetensors", alone)
    c = LeviTorPipeline.from_pretrained(path, alone, precision="fp32", device="cpu")
    np.testing.assert_array_equal(c(image, control, **kw).frames, fa)
    meta = json.loads(__import__("safetensors").safe_open(str(path), "pt").metadata()[sf.METADATA_KEY])
    assert meta["unet"]["num_frames"] == parts["unet"].config.num_frames


def test_cli_takes_the_single_file(tiny, tmp_path, capsys):
    from PIL import Image

    from levitor.cli import main
    from levitor.io.weights import write_state_dict

    path, parts = tiny
    write_state_dict(parts["controlnet"].state_dict(), tmp_path / "levitor_controlnet.safetensors")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)).save(tmp_path / "image.png")
    np.save(tmp_path / "control.npy", rng.uniform(0, 255, (2, 3, 64, 48)).astype(np.float32))
    base = ["generate", "--image", str(tmp_path / "image.png"), "--control", str(tmp_path / "control.npy"),
            "--controlnet", str(tmp_path / "levitor_controlnet.safetensors"), "--steps", "1", "--device", "cpu"]
    assert main([*base, "--svd", str(path), "--out", str(tmp_path / "v.gif")]) == 0
    assert Image.open(tmp_path / "v.gif").n_frames == 2
    save_file({"first_stage_model.encoder.conv_in.weight": torch.zeros(1)}, str(tmp_path / "vae.safetensors"))
    capsys.readouterr()
    assert main([*base, "--svd", str(tmp_path / "vae.safetensors"), "--out", str(tmp_path / "w.gif")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a Stable Video Diffusion checkpoint" in err[0]
    assert not (tmp_path / "w.gif").exists()


def test_header_check_before_loading(tiny, tmp_path):
    path, _ = tiny
    sf.check_single_file(path)
    save_file({sf.UNET_PREFIX + "input_blocks.0.0.weight": torch.zeros(8, 4, 3, 3),
               sf.UNET_PREFIX + "input_blocks.1.0.time_stack.in_layers.0.weight": torch.zeros(8)},
              str(tmp_path / "four.safetensors"))
    with pytest.raises(ValueError, match="four.safetensors: its UNet takes 4 input channels"):
        sf.check_single_file(tmp_path / "four.safetensors")
    (tmp_path / "cut.safetensors").write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="cut.safetensors: not a readable"):
        sf.check_single_file(tmp_path / "cut.safetensors")
