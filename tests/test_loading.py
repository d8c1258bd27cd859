"""Loading SVD folders and ControlNet folders/files: layouts, variants, strictness, errors, scheduler."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from levitor.generation.loading import load_controlnet, load_svd_components, resolve_precision
from levitor.generation.models import ControlNetSVDModel, UNetSpatioTemporalControlModel
from levitor.generation.pipeline import LeviTorPipeline
from levitor.tiny_models import TINY_UNET_CONFIG, save_tiny_models



# §5.3 of the reference notes: the SVD-xt Karras σ table for 25 steps.
SIGMAS_25 = [700, 545.73, 421.57, 322.45, 244.02, 182.55, 134.85, 98.267, 70.541, 49.810, 34.537, 23.468,
             15.590, 10.097, 6.3543, 3.8697, 2.2691, 1.2732, 0.6781, 0.3394, 0.1574, 0.0664, 0.0248, 0.0079,
             0.002]


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("tiny"))


def test_saved_layouts(tiny_dirs):
    svd, cn = tiny_dirs["svd"], tiny_dirs["controlnet"]
    index = json.loads((svd / "model_index.json").read_text())
    assert index["_class_name"] == "StableVideoDiffusionPipeline"
    assert index["unet"] == ["diffusers", "UNetSpatioTemporalConditionModel"]
    for sub, files in {
        "unet": ["config.json", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"],
        "vae": ["config.json", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"],
        "image_encoder": ["config.json", "model.safetensors", "model.fp16.safetensors"],
        "feature_extractor": ["preprocessor_config.json"],
        "scheduler": ["scheduler_config.json"],
    }.items():
        for f in files:
            assert (svd / sub / f).is_file(), f"{sub}/{f}"
    config = json.loads((cn / "config.json").read_text())
    assert config["_class_name"] == "ControlNetSVDModel" and config["with_id_feature"] is False
    assert (cn / "diffusion_pytorch_model.safetensors").is_file()
    assert not list(svd.rglob("*.bin")) and not list(cn.rglob("*.bin"))


def test_scheduler_sigma_table(tiny_dirs):
    from diffusers import EulerDiscreteScheduler

    sched = EulerDiscreteScheduler.from_pretrained(tiny_dirs["svd"], subfolder="scheduler")
    sched.set_timesteps(25)
    sigmas = sched.sigmas.double().numpy()
    assert len(sigmas) == 26 and sigmas[-1] == 0
    np.testing.assert_allclose(sigmas[:-1], SIGMAS_25, rtol=1e-4, atol=5e-5)  # table has 4-5 digits
    closed = [(700 ** (1 / 7) + i / 24 * (0.002 ** (1 / 7) - 700 ** (1 / 7))) ** 7 for i in range(25)]
    np.testing.assert_allclose(sigmas[:-1], closed, rtol=1e-5)
    np.testing.assert_allclose(sched.timesteps.double().numpy(), 0.25 * np.log(closed), rtol=1e-4, atol=1e-5)
    assert sched.timesteps[0] == pytest.approx(1.6378, abs=1e-4)
    assert sched.timesteps[-1] == pytest.approx(-1.5537, abs=1e-4)
    assert float(sched.init_noise_sigma) == pytest.approx(math.sqrt(700**2 + 1), rel=1e-6)
    assert sched.config.prediction_type == "v_prediction"


def test_svd_components_prefer_fp16_files_and_upcast(tiny_dirs, tmp_path):
    # make the fp16 variant distinguishable: its conv_in bias becomes 1.0
    svd = tmp_path / "svd"
    shutil.copytree(tiny_dirs["svd"], svd)
    path = svd / "unet" / "diffusion_pytorch_model.fp16.safetensors"
    sd = load_file(path)
    sd["conv_in.bias"] = torch.ones_like(sd["conv_in.bias"])
    save_file(sd, path)
    parts = load_svd_components(svd, resolve_precision("fp32", "cpu"))
    assert isinstance(parts["unet"], UNetSpatioTemporalControlModel)
    assert parts["unet"].dtype == torch.float32
    assert torch.equal(parts["unet"].conv_in.bias, torch.ones_like(parts["unet"].conv_in.bias))
    # without the fp16 files the full-precision files are used
    for f in svd.rglob("*.fp16.safetensors"):
        f.unlink()
    parts = load_svd_components(svd, resolve_precision("fp32", "cpu"))
    assert not torch.equal(parts["unet"].conv_in.bias, torch.ones_like(parts["unet"].conv_in.bias))


def test_controlnet_folder_roundtrip_strict(tiny_dirs):
    cn = load_controlnet(tiny_dirs["controlnet"], unet_config=TINY_UNET_CONFIG)
    sd = load_file(tiny_dirs["controlnet"] / "diffusion_pytorch_model.safetensors")
    assert set(cn.state_dict()) == set(sd)
    for k, v in cn.state_dict().items():
        assert torch.equal(v, sd[k]), k
    assert cn.dtype == torch.float32
    assert load_controlnet(tiny_dirs["controlnet"], dtype=torch.bfloat16).dtype == torch.bfloat16
    via_class = ControlNetSVDModel.from_pretrained(tiny_dirs["controlnet"].parent, subfolder="controlnet",
                                                   torch_dtype=torch.float16)
    assert via_class.dtype == torch.float16
    torch.testing.assert_close(via_class.controlnet_mid_block.weight.float(),
                               sd["controlnet_mid_block.weight"].half().float())


def test_controlnet_folder_from_reference_config(tiny_dirs, tmp_path):
    """A config.json as written by the original code (0.24, extra keys) loads."""
    folder = tmp_path / "controlnet"
    shutil.copytree(tiny_dirs["controlnet"], folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(_diffusers_version="0.24.0", feature_channels=160, feature_out_channels=[160, 160, 256, 256])
    (folder / "config.json").write_text(json.dumps(config))
    assert isinstance(load_controlnet(folder), ControlNetSVDModel)
    assert isinstance(ControlNetSVDModel.from_pretrained(folder), ControlNetSVDModel)
    config["with_id_feature"] = True
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="with_id_feature"):
        load_controlnet(folder)
    config.update(with_id_feature=False, _class_name="ControlNetModel")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="not a LeviTor ControlNetSVDModel"):
        load_controlnet(folder)


@pytest.mark.parametrize("damage", ["missing", "unexpected", "shape"])
def test_controlnet_state_dict_mismatch_is_refused(tiny_dirs, tmp_path, damage):
    folder = tmp_path / "controlnet"
    shutil.copytree(tiny_dirs["controlnet"], folder)
    path = folder / "diffusion_pytorch_model.safetensors"
    sd = load_file(path)
    if damage == "missing":
        del sd["controlnet_mid_block.bias"]
    elif damage == "unexpected":
        sd["controlnet_cond_embedding.mlp_embedding.weight"] = torch.zeros(2)
    else:
        sd["controlnet_down_blocks.3.weight"] = torch.zeros(8, 8, 1, 1)
    save_file(sd, path)
    message = {"missing": "1 missing", "unexpected": "1 unexpected", "shape": "other shapes"}[damage]
    with pytest.raises(ValueError, match=message):
        load_controlnet(folder)
    # diffusers' own loader, made strict on the model class
    message = {"missing": "1 missing", "unexpected": "1 unexpected", "shape": "expected shape"}[damage]
    with pytest.raises(ValueError, match=message):
        ControlNetSVDModel.from_pretrained(folder)


def test_controlnet_single_file(tiny_dirs, tmp_path):
    weights = tmp_path / "levitor_controlnet.safetensors"
    shutil.copy(tiny_dirs["controlnet"] / "diffusion_pytorch_model.safetensors", weights)
    # no config next to it: the architecture follows the UNet (the SVD-xt UNet gives the released one)
    with pytest.raises(ValueError, match="other shapes"):
        load_controlnet(weights, unet_config=dict(TINY_UNET_CONFIG, block_out_channels=[32, 32, 32, 32]))
    # conditioning embedding widths of the tiny model differ from the default: a config next to it is used
    shutil.copy(tiny_dirs["controlnet"] / "config.json", tmp_path / "config.json")
    cn = load_controlnet(weights, unet_config=TINY_UNET_CONFIG)
    assert cn.config.conditioning_embedding_out_channels == [8, 16, 16, 32] or tuple(
        cn.config.conditioning_embedding_out_channels) == (8, 16, 16, 32)
    # another model's config.json in the same folder is ignored, not trusted
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel"}))
    with pytest.raises(ValueError, match="do not match"):
        load_controlnet(weights, unet_config=TINY_UNET_CONFIG)


def test_controlnet_path_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_controlnet(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        load_controlnet(tmp_path / "empty")
    (tmp_path / "model.ckpt").write_bytes(b"x")
    with pytest.raises(ValueError, match="not a .safetensors"):
        load_controlnet(tmp_path / "model.ckpt")
    (tmp_path / "broken.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="not a readable .safetensors"):
        load_controlnet(tmp_path / "broken.safetensors", unet_config=TINY_UNET_CONFIG)


def test_svd_folder_errors(tiny_dirs, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        LeviTorPipeline.from_pretrained(tmp_path / "missing", device="cpu")
    (tmp_path / "file.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="is not a folder"):
        LeviTorPipeline.from_pretrained(tmp_path / "file.safetensors", device="cpu")
    partial = tmp_path / "partial"
    shutil.copytree(tiny_dirs["svd"], partial)
    shutil.rmtree(partial / "vae")
    with pytest.raises(ValueError, match="missing subfolder"):
        LeviTorPipeline.from_pretrained(partial, device="cpu")
    txt2vid = tmp_path / "txt2vid"
    shutil.copytree(tiny_dirs["svd"], txt2vid)
    cfg = json.loads((txt2vid / "unet" / "config.json").read_text())
    cfg["in_channels"] = 4
    (txt2vid / "unet" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="in_channels"):
        LeviTorPipeline.from_pretrained(txt2vid, device="cpu")
    noweights = tmp_path / "noweights"
    shutil.copytree(tiny_dirs["svd"], noweights)
    for f in (noweights / "unet").glob("*.safetensors"):
        f.unlink()
    with pytest.raises(ValueError, match="no safetensors weights"):
        LeviTorPipeline.from_pretrained(noweights, device="cpu")


def test_controlnet_must_fit_unet(tiny_dirs, tmp_path):
    cfg = dict(TINY_UNET_CONFIG, cross_attention_dim=16, conditioning_embedding_out_channels=[8, 16, 16, 32])
    other = ControlNetSVDModel(**cfg)
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(ValueError, match="cross_attention_dim"):
        LeviTorPipeline.from_pretrained(tiny_dirs["svd"], tmp_path / "other", device="cpu")


def test_precision_resolution():
    assert resolve_precision("auto", "cpu").denoiser_dtype == torch.float32
    auto_cuda = resolve_precision("auto", "cuda")
    assert auto_cuda.name == "fp16-autocast" and auto_cuda.denoiser_dtype == torch.float32
    assert auto_cuda.vae_dtype == torch.float16 and auto_cuda.autocast_dtype == torch.float16
    assert resolve_precision("auto", "mps").denoiser_dtype == torch.float16
    assert resolve_precision("bf16", "cpu").vae_dtype == torch.bfloat16
    assert resolve_precision("auto", "cpu", torch.bfloat16).denoiser_dtype == torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("int8", "cpu")
    with pytest.raises(ValueError, match="offload"):
        LeviTorPipeline.from_pretrained("unused", offload="disk")


def test_tiny_models_command(tmp_path, capsys):
    from levitor.tiny_models import main

    assert main([str(tmp_path / "out"), "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "svd:" in printed and "controlnet:" in printed
    assert (tmp_path / "out" / "svd" / "model_index.json").is_file()
    assert (tmp_path / "out" / "controlnet" / "config.json").is_file()
