"""Fake ComfyUI host modules and the fixtures that install them.

``fake_host`` puts ``folder_paths``, ``comfy``, ``comfy.utils``, ``comfy.model_management``, the
parts of ``comfy.ops``, ``comfy.model_patcher`` and ``comfy.controlnet`` the native nodes build on,
and the V3 node API ``comfy_api.v0_0_2`` (:mod:`fakes.comfy_api`) into ``sys.modules`` for one test,
with model folders under a temporary directory. ``pack`` imports this repository the way ComfyUI
imports a custom-node folder (as a package under a foreign name) and returns that package;
:func:`node_map` gives its node classes by node id and :func:`run_node` runs one.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest

from . import comfy_api as fake_comfy_api
from .comfy_api import run_node  # noqa: F401  (re-exported for the tests)

REPO_ROOT = Path(__file__).resolve().parents[2]
PACK_NAME = "some_custom_node_folder"


class InterruptProcessingException(Exception):
    """What ComfyUI raises when the user presses Cancel."""


class HostState:
    """What the fakes record, and switches that make them misbehave."""

    def __init__(self, base: Path):
        self.base = base
        self.models_dir = base / "models"
        self.temp_dir = base / "temp"
        self.progress: list[tuple] = []  # ("new", total) / ("update", n)
        self.interrupt_after_updates: int | None = None
        self.interrupted = False
        self.soft_empty_calls = 0
        self.unload_calls = 0
        self.updates = 0
        self.loaded_models: list = []  # what load_models_gpu / load_model_gpu were given


def _make_folder_paths(state: HostState) -> types.ModuleType:
    fp = types.ModuleType("folder_paths")
    fp.models_dir = str(state.models_dir)
    fp.folder_names_and_paths = {
        "diffusers": ([str(state.models_dir / "diffusers")], {"folder"}),
        "checkpoints": ([str(state.models_dir / "checkpoints")], {".safetensors", ".ckpt"}),
        "controlnet": ([str(state.models_dir / "controlnet")], {".safetensors", ".ckpt", ".pth"}),
    }

    def get_folder_paths(key):
        return list(fp.folder_names_and_paths[key][0])

    def get_filename_list(key):
        paths, exts = fp.folder_names_and_paths[key]
        out = []
        for root in paths:
            if not os.path.isdir(root):
                continue
            for dirpath, _, files in os.walk(root, followlinks=True):
                for f in files:
                    if not exts or os.path.splitext(f)[1].lower() in exts:
                        out.append(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
        return sorted(set(out))

    def get_full_path(key, name):
        if key not in fp.folder_names_and_paths:
            return None
        for root in fp.folder_names_and_paths[key][0]:
            path = os.path.join(root, name)
            if os.path.isfile(path):
                return path
        return None

    def get_full_path_or_raise(key, name):
        path = get_full_path(key, name)
        if path is None:
            raise FileNotFoundError(f"Model in folder '{key}' with filename '{name}' not found.")
        return path

    def add_model_folder_path(key, path, is_default=False):
        if key in fp.folder_names_and_paths:
            fp.folder_names_and_paths[key][0].append(path)
        else:
            fp.folder_names_and_paths[key] = ([path], set())

    def get_temp_directory():
        return str(state.temp_dir)

    for f in (get_folder_paths, get_filename_list, get_full_path, get_full_path_or_raise, add_model_folder_path,
              get_temp_directory):
        setattr(fp, f.__name__, f)
    return fp


def _make_comfy(state: HostState) -> tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    import torch

    comfy = types.ModuleType("comfy")
    comfy.__path__ = []
    utils = types.ModuleType("comfy.utils")
    mm = types.ModuleType("comfy.model_management")

    class ProgressBar:
        def __init__(self, total):
            self.total = total
            self.current = 0
            state.progress.append(("new", total))

        def update(self, value):
            self.update_absolute(self.current + value)

        def update_absolute(self, value, total=None, preview=None):
            self.current = value
            state.updates += 1
            state.progress.append(("update", value))
            if state.interrupt_after_updates is not None and state.updates >= state.interrupt_after_updates:
                state.interrupted = True
                raise InterruptProcessingException()

    utils.ProgressBar = ProgressBar
    mm.InterruptProcessingException = InterruptProcessingException
    mm.get_torch_device = lambda: torch.device("cpu")
    mm.unet_offload_device = lambda: torch.device("cpu")
    mm.intermediate_device = lambda: torch.device("cpu")

    def soft_empty_cache(force=False):
        state.soft_empty_calls += 1

    def unload_all_models():
        state.unload_calls += 1

    def throw_exception_if_processing_interrupted():
        if state.interrupted:
            state.interrupted = False
            raise InterruptProcessingException()

    def unet_dtype(device=None, model_params=0, supported_dtypes=(torch.float16, torch.bfloat16, torch.float32),
                   weight_dtype=None):
        return torch.float32  # the CPU computes in fp32

    def unet_manual_cast(weight_dtype, inference_device, supported_dtypes=None):
        return None if weight_dtype in (torch.float32, torch.float64) else torch.float32

    def load_models_gpu(models, memory_required=0, force_patch_weights=False, minimum_memory_required=None,
                        force_full_load=False):
        state.loaded_models.extend(models)

    mm.soft_empty_cache = soft_empty_cache
    mm.unload_all_models = unload_all_models
    mm.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted
    mm.unet_dtype = unet_dtype
    mm.unet_manual_cast = unet_manual_cast
    mm.load_models_gpu = load_models_gpu
    mm.load_model_gpu = lambda model: load_models_gpu([model])
    comfy.utils = utils
    comfy.model_management = mm
    return comfy, utils, mm


def _make_ops() -> types.ModuleType:
    """``comfy.ops``: layer classes that subclass torch's (same parameters and maths); the real ones
    can also cast and move their weights per call, flagged by ``comfy_cast_weights``."""
    import torch

    ops = types.ModuleType("comfy.ops")

    def family(name: str, cast: bool):
        layers = {layer: type(layer, (getattr(torch.nn, layer),), {"comfy_cast_weights": cast})
                  for layer in ("Linear", "Conv2d", "Conv3d", "GroupNorm", "LayerNorm")}
        return type(name, (), layers)

    ops.disable_weight_init = family("disable_weight_init", False)
    ops.manual_cast = family("manual_cast", True)
    return ops


def _make_model_patcher() -> types.ModuleType:
    module = types.ModuleType("comfy.model_patcher")

    class ModelPatcher:
        """Holds a model with the devices ComfyUI's memory manager moves it between."""

        def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
            self.model, self.load_device, self.offload_device, self.size = model, load_device, offload_device, size

    module.ModelPatcher = ModelPatcher
    return module


def _make_controlnet() -> types.ModuleType:
    """``comfy.controlnet.ControlBase``, the behaviour a control on a conditioning relies on: a hint
    strength and a sampling range set by ``set_cond_hint``, the range turned into timesteps by
    ``pre_run``, a chain of previous controls, and ``control_merge``, which scales each residual by
    the strength and adds the previous control's residuals."""
    module = types.ModuleType("comfy.controlnet")

    class ControlBase:
        def __init__(self):
            self.cond_hint_original = None
            self.strength = 1.0
            self.timestep_percent_range = (0.0, 1.0)
            self.timestep_range = None
            self.previous_controlnet = None
            self.extra_args = {}

        def set_cond_hint(self, cond_hint, strength=1.0, timestep_percent_range=(0.0, 1.0), vae=None,
                          extra_concat=()):
            self.cond_hint_original, self.strength = cond_hint, strength
            self.timestep_percent_range = timestep_percent_range
            return self

        def set_previous_controlnet(self, controlnet):
            self.previous_controlnet = controlnet
            return self

        def pre_run(self, model, percent_to_timestep_function):
            start, end = self.timestep_percent_range
            self.timestep_range = (percent_to_timestep_function(start), percent_to_timestep_function(end))
            if self.previous_controlnet is not None:
                self.previous_controlnet.pre_run(model, percent_to_timestep_function)

        def cleanup(self):
            if self.previous_controlnet is not None:
                self.previous_controlnet.cleanup()
            self.timestep_range = None

        def get_models(self):
            return [] if self.previous_controlnet is None else self.previous_controlnet.get_models()

        def copy_to(self, c):
            c.cond_hint_original, c.strength = self.cond_hint_original, self.strength
            c.timestep_percent_range, c.extra_args = self.timestep_percent_range, dict(self.extra_args)

        def control_merge(self, control, control_prev, output_dtype):
            out = {"input": [], "middle": [], "output": []}
            for key, tensors in control.items():
                out[key] = [None if x is None else
                            (x * self.strength).to(output_dtype or x.dtype) for x in tensors]
            if control_prev is not None:
                for key in out:
                    for i, prev in enumerate(control_prev.get(key, [])):
                        if i >= len(out[key]):
                            out[key].append(prev)
                        elif prev is not None:
                            out[key][i] = prev if out[key][i] is None else prev + out[key][i]
            return out

    module.ControlBase = ControlBase
    return module


def fake_modules(state: HostState) -> dict:
    """The fake host modules by name: ``folder_paths``, ``comfy.*`` and ``comfy_api.*``."""
    comfy, utils, mm = _make_comfy(state)
    extra = {"comfy.ops": _make_ops(), "comfy.model_patcher": _make_model_patcher(),
             "comfy.controlnet": _make_controlnet()}
    for name, module in extra.items():
        setattr(comfy, name.split(".")[1], module)
    return {"folder_paths": _make_folder_paths(state), "comfy": comfy, "comfy.utils": utils,
            "comfy.model_management": mm, **extra, **fake_comfy_api.MODULES}


@pytest.fixture
def fake_host(tmp_path, monkeypatch):
    """Install fake host modules for one test; yields the :class:`HostState`."""
    state = HostState(tmp_path)
    state.models_dir.mkdir()
    state.temp_dir.mkdir()
    for name, module in fake_modules(state).items():
        monkeypatch.setitem(sys.modules, name, module)
    yield state


def load_pack():
    """Import the repository as ComfyUI imports a custom-node folder; return the package."""
    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(PACK_NAME, REPO_ROOT / "__init__.py",
                                                  submodule_search_locations=[str(REPO_ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    # The pack binds the V3 API when it is imported: give it the fake one even when a test that
    # needs no host (a browser test of the preview route) is the first to import it.
    added = {name: mod for name, mod in fake_comfy_api.MODULES.items() if name not in sys.modules}
    sys.modules.update(added)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[PACK_NAME]
        raise
    finally:
        for name in added:
            sys.modules.pop(name, None)
    return module


@pytest.fixture
def pack(fake_host):
    """The pack package (imported once) with the fake host installed."""
    return load_pack()


def node_map(pack) -> dict:
    """The pack's node classes by node id, as ComfyUI registers them from ``comfy_entrypoint``."""
    import asyncio

    extension = pack.comfy_entrypoint()
    assert isinstance(extension, fake_comfy_api.ComfyExtension)
    return {cls.GET_SCHEMA().node_id: cls for cls in asyncio.run(extension.get_node_list())}
