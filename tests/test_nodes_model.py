"""LoadLeviTorModel and LeviTorSampler against the fake host, with a recording stand-in pipeline."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from fakes.comfy_host import InterruptProcessingException, fake_host, pack  # noqa: F401  (fixtures)


class RecordingPipeline:
    """Stands in for LeviTorPipeline: records how it is built, moved and called; runs the step callback."""

    loads: list = []

    def __init__(self, svd_path, controlnet, kwargs):
        self.svd_path, self.controlnet, self.kwargs = svd_path, controlnet, kwargs
        self.moves: list = []
        self.calls: list = []
        self.steps_run = 0

    @classmethod
    def from_pretrained(cls, svd_path, controlnet=None, **kwargs):
        pipe = cls(svd_path, controlnet, kwargs)
        cls.loads.append(pipe)
        return pipe

    def to(self, device):
        self.moves.append(str(device))
        return self

    def __call__(self, image, control, **kw):
        self.calls.append((image, control, kw))
        frames = np.asarray(control).shape[0]
        h, w = image.shape[:2]
        for step in range(kw["num_inference_steps"]):
            kw["callback_on_step_end"](self, step, 1000 - step, {})
            self.steps_run += 1
        video = np.broadcast_to(image[None].astype(np.float32) / 255.0, (frames, h, w, 3))
        return types.SimpleNamespace(frames=video[None].copy())


@pytest.fixture
def models(fake_host, monkeypatch):
    RecordingPipeline.loads = []
    module = types.ModuleType("levitor.generation.pipeline")
    module.LeviTorPipeline = RecordingPipeline
    monkeypatch.setitem(sys.modules, "levitor.generation.pipeline", module)
    root = fake_host.models_dir
    svd = root / "diffusers" / "stable-video-diffusion-img2vid-xt"
    svd.mkdir(parents=True)
    (svd / "model_index.json").write_text("{}")
    (root / "diffusers" / "not-a-pipeline").mkdir()
    cn = root / "levitor" / "LeviTor" / "controlnet"
    cn.mkdir(parents=True)
    (cn / "config.json").write_text("{}")
    (cn / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    (root / "levitor" / "levitor_controlnet.safetensors").write_bytes(b"")
    (root / "levitor" / "notes.txt").write_text("x")
    return root


def _loader(pack):
    return pack.NODE_CLASS_MAPPINGS["LoadLeviTorModel"]()


def test_model_folders_are_discovered(pack, models):
    spec = pack.NODE_CLASS_MAPPINGS["LoadLeviTorModel"].INPUT_TYPES()["required"]
    assert spec["svd_model"][0] == ["stable-video-diffusion-img2vid-xt"]
    assert spec["controlnet"][0] == ["LeviTor/controlnet", "levitor_controlnet.safetensors"]
    assert spec["precision"][0] == ["auto", "fp32", "fp16", "bf16", "fp16-autocast"]


def test_folder_registration_keeps_existing_entries(pack, fake_host, tmp_path):
    import folder_paths

    extra = str(tmp_path / "elsewhere")
    folder_paths.folder_names_and_paths["sams"] = ([extra], {".pth"})
    pack.nodes.host.register_model_folders()
    assert folder_paths.folder_names_and_paths["sams"][0] == [extra, str(fake_host.models_dir / "sams")]
    assert ".safetensors" in folder_paths.folder_names_and_paths["sams"][1]
    assert folder_paths.folder_names_and_paths["levitor"][0] == [str(fake_host.models_dir / "levitor")]
    assert folder_paths.folder_names_and_paths["diffusers"][1] == {"folder"}


def test_yaml_key_registered_before_the_pack_keeps_its_folder_first(pack, fake_host, tmp_path):
    import folder_paths

    yaml_dir = str(tmp_path / "yaml_levitor")
    folder_paths.add_model_folder_path("levitor", yaml_dir)  # extra_model_paths.yaml loads first
    pack.nodes.host.register_model_folders()
    paths, exts = folder_paths.folder_names_and_paths["levitor"]
    assert paths == [yaml_dir, str(fake_host.models_dir / "levitor")] and exts == set()
    pack.nodes.host.register_model_folders()  # idempotent
    assert folder_paths.folder_names_and_paths["levitor"][0] == paths


def test_extra_model_paths_are_searched(pack, fake_host, tmp_path):
    import folder_paths

    pack.nodes.host.register_model_folders()
    other = tmp_path / "shared_models" / "levitor"
    other.mkdir(parents=True)
    (other / "from_yaml.safetensors").write_bytes(b"")
    folder_paths.add_model_folder_path("levitor", str(other))
    choices = pack.nodes.model_nodes.controlnet_choices()
    assert folder_paths.get_folder_paths("levitor")[0] == str(fake_host.models_dir / "levitor")
    assert "from_yaml.safetensors" in choices
    assert pack.nodes.model_nodes.resolve_controlnet("from_yaml.safetensors") == str(other / "from_yaml.safetensors")


def test_load_passes_paths_options_and_device(pack, models, fake_host):
    (model,) = _loader(pack).load("stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp16", "model")
    pipe = model.pipeline
    assert pipe.svd_path == str(models / "diffusers" / "stable-video-diffusion-img2vid-xt")
    assert pipe.controlnet == str(models / "levitor" / "LeviTor" / "controlnet")
    assert pipe.kwargs == {"precision": "fp16", "offload": "model", "device": torch.device("cpu")}
    (single,) = _loader(pack).load("stable-video-diffusion-img2vid-xt", "levitor_controlnet.safetensors", "auto",
                                   "none")
    assert single.pipeline.controlnet.endswith("levitor_controlnet.safetensors")
    assert single.pipeline.kwargs["offload"] is None


def test_loading_is_cached_and_released_on_change(pack, models, fake_host):
    loader = _loader(pack)
    a = loader.load("stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp32", "none")[0]
    b = loader.load("stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp32", "none")[0]
    assert a is b and len(RecordingPipeline.loads) == 1
    empties = fake_host.soft_empty_calls
    c = loader.load("stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "bf16", "none")[0]
    assert c is not a and len(RecordingPipeline.loads) == 2
    assert a.pipeline.moves[-1] == "cpu"  # the old one was moved off the device
    assert fake_host.soft_empty_calls > empties and fake_host.unload_calls >= 2
    pack.nodes.model_nodes.release_cached_model()


def test_loader_errors_name_the_input_and_the_fix(pack, fake_host):
    loader = _loader(pack)
    spec = pack.NODE_CLASS_MAPPINGS["LoadLeviTorModel"].INPUT_TYPES()["required"]
    with pytest.raises(ValueError, match="svd_model: no SVD-xt folder found.*models"):
        loader.load(spec["svd_model"][0][0], spec["controlnet"][0][0], "auto", "none")
    with pytest.raises(ValueError, match="controlnet: no LeviTor ControlNet found"):
        loader.load("x", spec["controlnet"][0][0], "auto", "none", svd_hub_id="stabilityai/svd-xt")
    with pytest.raises(ValueError, match="model folder 'gone' was not found"):
        loader.load("gone", "x.safetensors", "auto", "none")


def _plan(h=64, w=48, frames=4):
    return types.SimpleNamespace(control=np.zeros((frames, 3, h, w), dtype=np.float32))


def _sampler_args(model, image, control, **over):
    args = dict(levitor_model=model, image=image, control=control, steps=5, min_guidance=1.0, max_guidance=3.0,
                motion_bucket_id=100, fps=6, noise_aug_strength=0.02, control_scale=1.0, seed=217,
                decode_chunk_size=0, force_offload=True, image_fit="error")
    args.update(over)
    return args


@pytest.fixture
def model(pack, models):
    m = _loader(pack).load("stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp32", "none")[0]
    yield m
    pack.nodes.model_nodes.release_cached_model()


def test_sampler_returns_frames_and_reports_progress(pack, fake_host, model):
    sampler = pack.NODE_CLASS_MAPPINGS["LeviTorSampler"]()
    image = torch.rand(1, 64, 48, 3)
    (frames,) = sampler.sample(**_sampler_args(model, image, _plan()))
    assert frames.shape == (4, 64, 48, 3) and frames.dtype == torch.float32
    assert torch.allclose(frames[0], image[0], atol=1 / 255)
    _, control, kw = model.pipeline.calls[-1]
    assert control.shape == (4, 3, 64, 48)
    assert kw["seed"] == 217 and kw["num_inference_steps"] == 5 and kw["decode_chunk_size"] is None
    assert kw["motion_bucket_id"] == 100 and kw["control_scale"] == 1.0 and kw["output_type"] == "np"
    assert ("new", 5) in fake_host.progress
    assert [p for p in fake_host.progress if p[0] == "update"][-5:] == [("update", i) for i in range(1, 6)]
    assert model.pipeline.moves[-1] == "cpu"  # force_offload


def test_sampler_cancel_stops_between_steps(pack, fake_host, model):
    sampler = pack.NODE_CLASS_MAPPINGS["LeviTorSampler"]()
    fake_host.interrupt_after_updates = fake_host.updates + 2
    with pytest.raises(InterruptProcessingException):
        sampler.sample(**_sampler_args(model, torch.rand(1, 64, 48, 3), _plan(), steps=25))
    assert model.pipeline.steps_run == 1  # interrupted inside the second step's callback
    assert model.pipeline.moves[-1] == "cpu"  # memory is released even when cancelled


def test_sampler_image_fit(pack, model):
    sampler = pack.NODE_CLASS_MAPPINGS["LeviTorSampler"]()
    wide = torch.rand(1, 60, 80, 3)
    with pytest.raises(ValueError, match="image is 80x60 but the control maps are 48x64.*image_fit"):
        sampler.sample(**_sampler_args(model, wide, _plan()))
    for mode in ("resize", "center crop"):
        (frames,) = sampler.sample(**_sampler_args(model, wide, _plan(), image_fit=mode))
        assert frames.shape == (4, 64, 48, 3)
    img = model.pipeline.calls[-1][0]
    # center crop keeps the middle of the picture: scale 64/60, crop the sides
    assert img.shape == (64, 48, 3)


def test_sampler_validation(pack, model):
    sampler = pack.NODE_CLASS_MAPPINGS["LeviTorSampler"]()
    with pytest.raises(ValueError, match="multiples of 8"):
        sampler.sample(**_sampler_args(model, torch.rand(1, 60, 44, 3), _plan(60, 44)))
    with pytest.raises(ValueError, match="max_guidance"):
        sampler.sample(**_sampler_args(model, torch.rand(1, 64, 48, 3), _plan(), max_guidance=0.5))
    with pytest.raises(ValueError, match="LoadLeviTorModel"):
        sampler.sample(**_sampler_args(object(), torch.rand(1, 64, 48, 3), _plan()))
    with pytest.raises(ValueError, match="LeviTorKMeansControlPoints"):
        sampler.sample(**_sampler_args(model, torch.rand(1, 64, 48, 3), np.zeros((4, 3, 64, 48))))
