"""LoadLeviTorModel and LeviTorSampler against the fake host, with a recording stand-in pipeline."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

from fakes.comfy_host import InterruptProcessingException, fake_host, node_map, pack, run_node  # noqa: F401  (fixtures)


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
def models(pack, fake_host, monkeypatch):
    RecordingPipeline.loads = []
    monkeypatch.setattr(pack.nodes.model_nodes, "LeviTorPipeline", RecordingPipeline)
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
    return node_map(pack)["LoadLeviTorModel"]


def options(entry):
    """The choices of a combo input in V1 ``INPUT_TYPES`` form: ``("COMBO", {"options": [...]})``."""
    assert entry[0] == "COMBO", entry
    return entry[1]["options"]


def test_model_folders_are_discovered(pack, models):
    spec = node_map(pack)["LoadLeviTorModel"].INPUT_TYPES()["required"]
    assert options(spec["svd_model"]) == ["stable-video-diffusion-img2vid-xt"]
    assert options(spec["controlnet"]) == ["LeviTor/controlnet", "levitor_controlnet.safetensors"]
    assert options(spec["precision"]) == ["auto", "fp32", "fp16", "bf16", "fp16-autocast"]
    optional = node_map(pack)["LoadLeviTorModel"].INPUT_TYPES()["optional"]
    assert options(optional["temporal_context"]) == ["reference", "per-sample"]
    assert optional["temporal_context"][1]["default"] == "reference"


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
    (model,) = run_node(_loader(pack), "stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp16", "model")
    pipe = model.pipeline
    assert pipe.svd_path == str(models / "diffusers" / "stable-video-diffusion-img2vid-xt")
    assert pipe.controlnet == str(models / "levitor" / "LeviTor" / "controlnet")
    assert pipe.kwargs == {"precision": "fp16", "offload": "model", "device": torch.device("cpu"),
                           "temporal_context": "reference"}
    (single,) = run_node(_loader(pack), "stable-video-diffusion-img2vid-xt", "levitor_controlnet.safetensors", "auto",
                                   "none")
    assert single.pipeline.controlnet.endswith("levitor_controlnet.safetensors")
    assert single.pipeline.kwargs["offload"] is None


def test_loading_is_cached_and_released_on_change(pack, models, fake_host):
    loader = _loader(pack)
    a = run_node(loader, "stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp32", "none")[0]
    b = run_node(loader, "stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp32", "none")[0]
    assert a is b and len(RecordingPipeline.loads) == 1
    empties = fake_host.soft_empty_calls
    c = run_node(loader, "stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "bf16", "none")[0]
    assert c is not a and len(RecordingPipeline.loads) == 2
    assert a.pipeline.moves[-1] == "cpu"  # the old one was moved off the device
    assert fake_host.soft_empty_calls > empties and fake_host.unload_calls >= 2
    pack.nodes.model_nodes.release_cached_model()


def test_loader_errors_name_the_input_and_the_fix(pack, fake_host):
    loader = _loader(pack)
    spec = node_map(pack)["LoadLeviTorModel"].INPUT_TYPES()["required"]
    with pytest.raises(ValueError, match="svd_model: no SVD-xt folder found.*models"):
        run_node(loader, options(spec["svd_model"])[0], options(spec["controlnet"])[0], "auto", "none")
    with pytest.raises(ValueError, match="controlnet: no LeviTor ControlNet found"):
        run_node(loader, "x", options(spec["controlnet"])[0], "auto", "none", svd_hub_id="stabilityai/svd-xt")
    with pytest.raises(ValueError, match="model folder 'gone' was not found"):
        run_node(loader, "gone", "x.safetensors", "auto", "none")


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
    m = run_node(_loader(pack), "stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp32", "none")[0]
    yield m
    pack.nodes.model_nodes.release_cached_model()


def test_sampler_returns_frames_and_reports_progress(pack, fake_host, model):
    sampler = node_map(pack)["LeviTorSampler"]
    image = torch.rand(1, 64, 48, 3)
    (frames,) = run_node(sampler, **_sampler_args(model, image, _plan()))
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
    sampler = node_map(pack)["LeviTorSampler"]
    fake_host.interrupt_after_updates = fake_host.updates + 2
    with pytest.raises(InterruptProcessingException):
        run_node(sampler, **_sampler_args(model, torch.rand(1, 64, 48, 3), _plan(), steps=25))
    assert model.pipeline.steps_run == 1  # interrupted inside the second step's callback
    assert model.pipeline.moves[-1] == "cpu"  # memory is released even when cancelled


def test_sampler_image_fit(pack, model):
    sampler = node_map(pack)["LeviTorSampler"]
    wide = torch.rand(1, 60, 80, 3)
    with pytest.raises(ValueError, match="image is 80x60 but the control maps are 48x64.*image_fit"):
        run_node(sampler, **_sampler_args(model, wide, _plan()))
    for mode in ("resize", "center crop"):
        (frames,) = run_node(sampler, **_sampler_args(model, wide, _plan(), image_fit=mode))
        assert frames.shape == (4, 64, 48, 3)


def _sent_image(pack, model, image, mode):
    run_node(node_map(pack)["LeviTorSampler"], **_sampler_args(model, image, _plan(), image_fit=mode))
    return model.pipeline.calls[-1][0]


def test_center_crop_keeps_the_middle_without_scaling(pack, model):
    # 80 wide, 64 high onto 48x64: the height already fits (scale 1), so the crop is exactly
    # columns (80 - 48) // 2 = 16 .. 63 of the original pixels.
    pixels = np.random.default_rng(0).integers(0, 256, size=(64, 80, 3), dtype=np.uint8)
    sent = _sent_image(pack, model, torch.from_numpy(pixels.astype(np.float32) / 255.0)[None], "center crop")
    assert np.array_equal(sent, pixels[:, 16:64])


def test_center_crop_scales_to_cover_then_cuts_the_sides(pack, model):
    # Three vertical bands (red 0-26, green 27-53, blue 54-79) in an 80x60 image. Covering 48x64
    # scales it to round(80 * 64 / 60) = 85 by 64 and cuts (85 - 48) // 2 = 18 columns on the left:
    # output column c samples source column (c + 18 + 0.5) * 80 / 85 - 0.5, so columns 0 and 5 are
    # red (16.9, 21.6), 24 green (39.3), 42 and 47 blue (56.4, 60.6).
    bands = np.zeros((60, 80, 3), dtype=np.uint8)
    bands[:, :27, 0] = 255
    bands[:, 27:54, 1] = 255
    bands[:, 54:, 2] = 255
    sent = _sent_image(pack, model, torch.from_numpy(bands.astype(np.float32) / 255.0)[None], "center crop")
    assert sent.shape == (64, 48, 3)
    for col, colour in ((0, (255, 0, 0)), (5, (255, 0, 0)), (24, (0, 255, 0)), (42, (0, 0, 255)),
                        (47, (0, 0, 255))):
        assert np.array_equal(sent[:, col], np.broadcast_to(colour, (64, 3))), col
    stretched = _sent_image(pack, model, torch.from_numpy(bands.astype(np.float32) / 255.0)[None], "resize")
    # resize keeps all three bands in proportion: column 47 of 48 is the last source column (blue),
    # column 0 the first (red), column 24 the middle (green)
    assert tuple(stretched[30, 0]) == (255, 0, 0) and tuple(stretched[30, 24]) == (0, 255, 0)
    assert tuple(stretched[30, 47]) == (0, 0, 255)
    assert not np.array_equal(sent, stretched)


def test_sampler_validation(pack, model):
    sampler = node_map(pack)["LeviTorSampler"]
    with pytest.raises(ValueError, match="multiples of 8"):
        run_node(sampler, **_sampler_args(model, torch.rand(1, 60, 44, 3), _plan(60, 44)))
    with pytest.raises(ValueError, match="max_guidance"):
        run_node(sampler, **_sampler_args(model, torch.rand(1, 64, 48, 3), _plan(), max_guidance=0.5))
    with pytest.raises(ValueError, match="LoadLeviTorModel"):
        run_node(sampler, **_sampler_args(object(), torch.rand(1, 64, 48, 3), _plan()))
    with pytest.raises(ValueError, match="LeviTorKMeansControlPoints"):
        run_node(sampler, **_sampler_args(model, torch.rand(1, 64, 48, 3), np.zeros((4, 3, 64, 48))))


def test_temporal_context_reaches_the_library_and_is_checked(pack, models):
    loader = _loader(pack)
    (m,) = run_node(loader, "stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp32", "none",
                    temporal_context="per-sample")
    assert m.pipeline.kwargs["temporal_context"] == "per-sample"
    pack.nodes.model_nodes.release_cached_model()
    with pytest.raises(ValueError, match="temporal_context must be one of reference, per-sample"):
        run_node(loader, "stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp32", "none",
                 temporal_context="sideways")
    with pytest.raises(ValueError, match="precision must be one of"):
        run_node(loader, "stable-video-diffusion-img2vid-xt", "LeviTor/controlnet", "fp64", "none")


def test_the_real_library_takes_temporal_context():
    import inspect

    from levitor.generation.pipeline import LeviTorPipeline

    assert inspect.signature(LeviTorPipeline.from_pretrained).parameters["temporal_context"].default == "reference"


def test_sampler_defaults_are_the_librarys(pack):
    from levitor import limits
    from levitor.generation.pipeline import DEFAULT_SEED

    req = node_map(pack)["LeviTorSampler"].INPUT_TYPES()["required"]
    assert req["seed"][1]["default"] == DEFAULT_SEED == 217
    assert req["steps"][1]["default"] == 25 and req["steps"][1]["max"] == limits.STEPS.hi
    assert (req["min_guidance"][1]["default"], req["max_guidance"][1]["default"]) == (1.0, 3.0)
    assert req["decode_chunk_size"][1]["default"] == 0 and req["motion_bucket_id"][1]["default"] == 100
