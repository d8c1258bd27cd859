"""Loading SVD folders and ControlNet folders/files: layouts, variants, strictness, errors, scheduler."""

from __future__ import annotations

import inspect
import json
import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from levitor.generation.loading import load_controlnet, load_svd_components, resolve_precision
from levitor.generation.models.controlnet_svd import ControlNetSVDModel
from levitor.generation.models.unet_svd import UNetSpatioTemporalControlModel
from levitor.generation.pipeline import LeviTorPipeline
from levitor.generation.tiny import TINY_CONTROLNET_EMBEDDING, TINY_UNET_CONFIG, save_tiny_models

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
    """One file under any name: its architecture from a config.json of ours beside it, else from its
    tensor shapes, with the attention heads (which shapes do not tell) from the UNet when given."""
    folder_model = load_controlnet(tiny_dirs["controlnet"])
    weights = tmp_path / "levitor_controlnet.safetensors"
    shutil.copy(tiny_dirs["controlnet"] / "diffusion_pytorch_model.safetensors", weights)
    # no config next to it: the shapes tell the widths, the conditioning embedding included
    cn = load_controlnet(weights)
    assert list(cn.config.block_out_channels) == TINY_UNET_CONFIG["block_out_channels"]
    assert tuple(cn.config.conditioning_embedding_out_channels) == TINY_CONTROLNET_EMBEDDING
    assert list(cn.config.num_attention_heads) == [1, 1, 2, 2]  # 32-channel heads: min(64, first width)
    for key, value in folder_model.state_dict().items():
        assert torch.equal(cn.state_dict()[key], value), key
    # the UNet's heads where the shapes cannot tell them; a UNet of other widths is refused
    other_heads = dict(TINY_UNET_CONFIG, num_attention_heads=[2, 2, 4, 4])
    assert list(load_controlnet(weights, unet_config=other_heads).config.num_attention_heads) == [2, 2, 4, 4]
    with pytest.raises(ValueError, match="does not fit the SVD UNet: block_out_channels"):
        load_controlnet(weights, unet_config=dict(TINY_UNET_CONFIG, block_out_channels=[32, 32, 32, 32]))
    # a config of ours beside the file is used
    config = json.loads((tiny_dirs["controlnet"] / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(dict(config, num_attention_heads=[4, 4, 8, 8])))
    assert list(load_controlnet(weights).config.num_attention_heads) == [4, 4, 8, 8]
    # another model's config.json in the same folder is ignored, not trusted
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel", "block_out_channels": [1]}))
    assert list(load_controlnet(weights).config.block_out_channels) == TINY_UNET_CONFIG["block_out_channels"]


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
    with pytest.raises(ValueError, match="SVD checkpoint file.safetensors: not a readable .safetensors"):
        LeviTorPipeline.from_pretrained(tmp_path / "file.safetensors", device="cpu")  # a file is a single checkpoint
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
    from levitor.generation.tiny import main

    assert main([str(tmp_path / "out"), "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "svd:" in printed and "controlnet:" in printed
    assert (tmp_path / "out" / "svd" / "model_index.json").is_file()
    assert (tmp_path / "out" / "controlnet" / "config.json").is_file()


# ------------------------------------------------------------------ config validation


def _write_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("changes, key", [
    ({"with_id_feature": "false"}, "with_id_feature"),
    ({"block_out_channels": [32, -32, 64, 64]}, "block_out_channels"),
    ({"block_out_channels": [32, 32, 64, 2 ** 40]}, "block_out_channels"),
    ({"block_out_channels": [32, 32, 64]}, "block_out_channels"),
    ({"conditioning_channels": 0}, "conditioning_channels"),
    ({"num_attention_heads": [1, 1, 2, 3]}, "num_attention_heads"),
    ({"layers_per_block": "2"}, "layers_per_block"),
    ({"down_block_types": ["CrossAttnDownBlock2D"] * 4}, "down_block_types"),
    ({"in_channels": True}, "in_channels"),
    ({"projection_class_embeddings_input_dim": 25}, "projection_class_embeddings_input_dim"),
])
def test_controlnet_config_is_validated_before_building(tiny_dirs, tmp_path, monkeypatch, changes, key):
    folder = tmp_path / "controlnet"
    shutil.copytree(tiny_dirs["controlnet"], folder)
    _write_config(folder, **changes)

    def no_build(*args, **kwargs):
        raise AssertionError("a module was built from an invalid config")

    monkeypatch.setattr(ControlNetSVDModel, "from_config", no_build)
    with pytest.raises(ValueError, match=f"config.json.*'{key}'"):
        load_controlnet(folder)


@pytest.mark.parametrize("text", ["[1, 2]", '"controlnet"', "{not json", "", "\xff\xfe"])
def test_config_file_that_is_not_an_object(tiny_dirs, tmp_path, text):
    folder = tmp_path / "controlnet"
    shutil.copytree(tiny_dirs["controlnet"], folder)
    (folder / "config.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(ValueError, match="config.json"):
        load_controlnet(folder)


def test_unet_config_is_validated(tiny_dirs, tmp_path):
    svd = tmp_path / "svd"
    shutil.copytree(tiny_dirs["svd"], svd)
    for text, key in (('{"in_channels": 8, "block_out_channels": [32, 32, 64, 100000]}', "block_out_channels"),
                      ("[8]", "JSON list")):
        (svd / "unet" / "config.json").write_text(text)
        with pytest.raises(ValueError, match=f"unet.*config.json.*{key}"):
            LeviTorPipeline.from_pretrained(svd, device="cpu")
    (svd / "vae" / "config.json").write_text("[]")
    shutil.copy(tiny_dirs["svd"] / "unet" / "config.json", svd / "unet" / "config.json")
    with pytest.raises(ValueError, match="vae.*config.json"):
        LeviTorPipeline.from_pretrained(svd, device="cpu")


def test_damaged_component_weights_name_the_folder(tiny_dirs, tmp_path):
    svd = tmp_path / "svd"
    shutil.copytree(tiny_dirs["svd"], svd)
    for f in (svd / "vae").glob("*.safetensors"):
        f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(ValueError, match="VAE from .*vae"):
        LeviTorPipeline.from_pretrained(svd, device="cpu")


def test_no_pickled_weights_are_read(tiny_dirs, tmp_path, monkeypatch):
    """A folder with only .bin weights is refused before torch.load could see it."""
    folder = tmp_path / "controlnet"
    shutil.copytree(tiny_dirs["controlnet"], folder)
    (folder / "diffusion_pytorch_model.safetensors").rename(folder / "diffusion_pytorch_model.bin")

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(ValueError, match="no safetensors weights"):
        load_controlnet(folder)
    svd = tmp_path / "svd"
    shutil.copytree(tiny_dirs["svd"], svd)
    for f in (svd / "unet").glob("*.safetensors"):
        f.rename(f.with_suffix(".bin"))
    with pytest.raises(ValueError, match="no safetensors weights"):
        LeviTorPipeline.from_pretrained(svd, device="cpu")


# ------------------------------------------------------------------ hypothesis: configs and damaged files

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from levitor.generation.configs import validate_controlnet_config, validate_unet_config  # noqa: E402
from levitor.io.weights import read_state_dict  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
_plausible = {  # values near the valid ones, so the validator's acceptance side is explored too
    "block_out_channels": st.lists(st.sampled_from([32, 64, 96]), min_size=4, max_size=4)
    | st.lists(st.sampled_from([0, 16, 32, 64, -32]), min_size=1, max_size=5),
    "num_attention_heads": st.integers(0, 5) | st.lists(st.integers(1, 4), min_size=1, max_size=5),
    "layers_per_block": st.integers(0, 3) | st.lists(st.integers(1, 2), min_size=1, max_size=5),
    "transformer_layers_per_block": st.integers(0, 2),
    "cross_attention_dim": st.sampled_from([0, 8, 32, 33]),
    "down_block_types": st.lists(st.sampled_from(["CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"]),
                                 min_size=4, max_size=4)
    | st.lists(st.sampled_from(["CrossAttnDownBlockSpatioTemporal", "DownBlock2D"]), min_size=1, max_size=5),
    "up_block_types": st.lists(st.sampled_from(["CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal"]),
                               min_size=3, max_size=5),
    "out_channels": st.integers(-1, 8),
    "sample_size": st.none() | st.integers(-1, 64),
    "num_frames": st.integers(0, 30),
    "feature_channels": st.integers(0, 200),
    "feature_out_channels": st.lists(st.integers(0, 300), max_size=5),
    "addition_time_embed_dim": st.sampled_from([0, 4, 8]),
    "projection_class_embeddings_input_dim": st.sampled_from([12, 24, 25]),
    "conditioning_embedding_out_channels": st.lists(st.integers(1, 16), min_size=4, max_size=4)
    | st.lists(st.integers(-1, 16), min_size=0, max_size=5),
    "with_id_feature": st.sampled_from([False, True, "false", 0, None]),
    "conditioning_channels": st.integers(-1, 4),
    "in_channels": st.integers(-1, 9),
}
_TINY_CN = dict(TINY_UNET_CONFIG, conditioning_embedding_out_channels=[8, 16, 16, 32])


@st.composite
def _mutated_config(draw):
    config = dict(_TINY_CN)
    for key in draw(st.lists(st.sampled_from(sorted(_TINY_CN) + ["with_id_feature", "feature_channels"]),
                             max_size=3, unique=True)):
        plausible = key in _plausible and draw(st.integers(0, 3)) > 0
        config[key] = draw(_plausible[key] if plausible else _json)
    return config


def _check_config_property(config):
    """Only ValueError, and a config the validator accepts builds (on the meta device)."""
    from diffusers import UNetSpatioTemporalConditionModel

    for validate, cls in ((validate_controlnet_config, ControlNetSVDModel),
                          (validate_unet_config, UNetSpatioTemporalConditionModel)):
        try:
            validate(config, "config.json")
        except ValueError as exc:
            assert "config.json" in str(exc)
            continue
        keys = set(inspect.signature(cls.__init__).parameters)
        with torch.device("meta"):
            cls(**{k: v for k, v in config.items() if k in keys})


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated_config())
def test_config_validator_property(config):
    _check_config_property(config)


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, derandomize=False, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated_config())
def test_config_validator_property_long(config):
    _check_config_property(config)


@pytest.fixture(scope="module")
def small_safetensors(tmp_path_factory):
    path = tmp_path_factory.mktemp("st") / "w.safetensors"
    save_file({"a": torch.arange(12, dtype=torch.float32).view(3, 4), "b": torch.ones(2, dtype=torch.float16)}, path)
    return path.read_bytes()


_damage = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 200)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=6)),
    st.tuples(st.just("header_length"), st.binary(min_size=8, max_size=8)),
    st.tuples(st.just("junk"), st.binary(max_size=64)),
)


def _damaged(data: bytes, damage) -> bytes:
    kind, arg = damage
    if kind == "truncate":
        return data[:arg % max(1, len(data))]
    if kind == "flip":
        out = bytearray(data)
        for at, value in arg:
            out[at % len(out)] = value
        return bytes(out)
    if kind == "header_length":
        return arg + data[8:]
    return arg


def _check_reader_property(tmp_path, data: bytes):
    path = tmp_path / "damaged.safetensors"
    path.write_bytes(data)
    try:
        state = read_state_dict(path, what="test weights")
    except ValueError as exc:
        assert "damaged.safetensors" in str(exc)
        return
    assert all(isinstance(v, torch.Tensor) for v in state.values())


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=_damage)
def test_safetensors_reader_on_damaged_files(tmp_path, small_safetensors, damage):
    _check_reader_property(tmp_path, _damaged(small_safetensors, damage))


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(damage=_damage)
def test_damaged_controlnet_weights_are_value_errors(tiny_dirs, tmp_path_factory, damage):
    folder = tmp_path_factory.mktemp("cn")
    shutil.copy(tiny_dirs["controlnet"] / "config.json", folder / "config.json")
    data = (tiny_dirs["controlnet"] / "diffusion_pytorch_model.safetensors").read_bytes()
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(_damaged(data, damage))
    try:
        load_controlnet(folder)
    except ValueError:
        pass


@pytest.mark.parametrize("rel, changes, key", [
    ("feature_extractor/preprocessor_config.json", {"size": []}, "size"),  # was an IndexError
    ("feature_extractor/preprocessor_config.json", {"size": {}}, "size"),
    ("feature_extractor/preprocessor_config.json", {"size": {"height": 224}}, "size"),
    ("feature_extractor/preprocessor_config.json", {"crop_size": {"shortest_edge": -3}}, "crop_size.shortest_edge"),
    ("feature_extractor/preprocessor_config.json", {"crop_size": 1e9}, "crop_size"),
    ("feature_extractor/preprocessor_config.json", {"image_mean": "grey"}, "image_mean"),
    ("feature_extractor/preprocessor_config.json", {"image_std": [0.2, 0.0, 0.3]}, "image_std"),
    ("feature_extractor/preprocessor_config.json", {"rescale_factor": None}, "rescale_factor"),
    ("feature_extractor/preprocessor_config.json", {"do_resize": "yes"}, "do_resize"),
    ("image_encoder/config.json", {"projection_dim": {}}, "projection_dim"),  # was huggingface_hub's own error
    ("image_encoder/config.json", {"hidden_size": 33}, "num_attention_heads"),
    ("image_encoder/config.json", {"num_hidden_layers": 10 ** 9}, "num_hidden_layers"),
    ("image_encoder/config.json", {"patch_size": 1000}, "patch_size"),
    ("image_encoder/config.json", {"layer_norm_eps": "small"}, "layer_norm_eps"),
])
def test_clip_configs_are_validated_before_loading(tiny_dirs, tmp_path, rel, changes, key):
    svd = tmp_path / "svd"
    shutil.copytree(tiny_dirs["svd"], svd)
    path = svd / rel
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=f"{path.name}: '{key}'"):
        LeviTorPipeline.from_pretrained(svd, tiny_dirs["controlnet"], device="cpu")


def test_clip_config_validators_take_the_released_forms():
    from levitor.generation.configs import validate_feature_extractor_config, validate_image_encoder_config

    # stable-video-diffusion-img2vid-xt's feature extractor and image encoder (CLIP ViT-H/14) settings
    extractor = {"crop_size": {"height": 224, "width": 224}, "do_center_crop": True, "do_convert_rgb": True,
                 "do_normalize": True, "do_rescale": True, "do_resize": True,
                 "feature_extractor_type": "CLIPFeatureExtractor",
                 "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
                 "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224}}
    assert validate_feature_extractor_config(extractor, "x") is extractor
    assert validate_feature_extractor_config({"size": 224, "crop_size": [224, 224]}, "x")
    encoder = {"hidden_size": 1280, "intermediate_size": 5120, "num_attention_heads": 16, "num_hidden_layers": 32,
               "patch_size": 14, "projection_dim": 1024, "image_size": 224, "num_channels": 3, "layer_norm_eps": 1e-5}
    assert validate_image_encoder_config(encoder, "x") is encoder
def test_same_weights_compute_the_same_floats_whatever_the_file_layout(tiny_dirs, tmp_path):
    """safetensors maps the file into memory, so a tensor's address follows the file's header length,
    and CPU kernels block (and round) by address. Loaded weights get memory of their own: two files
    with the same tensors and other metadata give bit-identical results."""
    state = load_file(str(tiny_dirs["controlnet"] / "diffusion_pytorch_model.safetensors"))
    pads = []
    for k, pad in enumerate(("", "x" * 8, "x" * 24)):
        path = tmp_path / f"cn{k}.safetensors"
        save_file(state, str(path), metadata={"note": pad} if pad else None)
        pads.append(load_controlnet(path))
    for model in pads:
        assert all(t.data_ptr() % 64 == 0 for t in model.state_dict().values())
    g = torch.Generator().manual_seed(0)
    sample = torch.randn((2, 2, 8, 8, 8), generator=g)
    args = (sample, torch.tensor(0.3), torch.randn((2, 1, 32), generator=g), torch.tensor([[5.0, 100, 0.02]] * 2),
            torch.rand((2, 2, 3, 64, 64), generator=g) * 255)
    with torch.no_grad():
        outs = [m(*args, return_dict=False) for m in pads]
    for down, mid in outs[1:]:
        assert torch.equal(mid, outs[0][1])
        assert all(torch.equal(a, b) for a, b in zip(down, outs[0][0]))


def test_scheduler_from_a_folder_or_for_a_single_file(tiny_dirs, tmp_path):
    from levitor.generation.configs import SVD_XT_SCHEDULER_CONFIG
    from levitor.generation.loading import load_scheduler

    folder_config = json.loads((tiny_dirs["svd"] / "scheduler" / "scheduler_config.json").read_text())
    config = dict(load_scheduler(tiny_dirs["svd"]).config)
    assert all(config[k] == v for k, v in folder_config.items() if not k.startswith("_"))
    (tmp_path / "svd_xt.safetensors").write_bytes(b"")  # a single file carries no scheduler config
    config = dict(load_scheduler(tmp_path / "svd_xt.safetensors").config)
    assert all(config[k] == v for k, v in SVD_XT_SCHEDULER_CONFIG.items())
    assert config["prediction_type"] == "v_prediction" and config["use_karras_sigmas"]
