"""The native example workflows: UI and API twins agree, only core nodes besides ours, and every
model comes from a single safetensors file the missing-models dialog can download."""

from __future__ import annotations

import json

import pytest

import test_workflows as wrapper_workflows
from fakes.comfy_host import REPO_ROOT, fake_host, pack  # noqa: F401  (fixtures)

UI_DIR = REPO_ROOT / "example_workflows"
API_DIR = REPO_ROOT / "tests" / "workflows" / "native"
NAMES = sorted(p.stem for p in UI_DIR.glob("*_native.json"))
#: widget names, in the frontend's order, of the nodes the native workflows add (checked against
#: the real host by the integration tests, which run these workflows)
NATIVE_WIDGETS = {
    "ImageOnlyCheckpointLoader": ["ckpt_name"],
    "VideoLinearCFGGuidance": ["min_cfg"],
    "KSampler": ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "VAEDecode": [],
    "LeviTorSVDConditioning": ["fps", "motion_bucket_id", "augmentation_level", "augmentation_seed"],
    "LeviTorControlNetLoader": ["control_net_name"],
    "LeviTorApplyControlNet": ["strength", "start_percent", "end_percent"],
}
DOWNLOAD_HOSTS = ("https://huggingface.co/",)


def test_every_wrapper_workflow_has_a_native_twin():
    wrappers = wrapper_workflows.NAMES
    assert NAMES == [f"{n}_native" for n in wrappers]
    assert sorted(p.name[: -len("_api.json")] for p in API_DIR.glob("*_api.json")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_ui_and_api_twins_agree(pack, monkeypatch, name):
    monkeypatch.setattr(wrapper_workflows, "CORE_WIDGETS", {**wrapper_workflows.CORE_WIDGETS, **NATIVE_WIDGETS})
    ui = json.loads((UI_DIR / f"{name}.json").read_text())
    api = json.loads((API_DIR / f"{name}_api.json").read_text())
    converted = wrapper_workflows.ui_to_api(pack, ui)
    assert converted == {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in api.items()}
    types = {n["class_type"] for n in api.values()}
    assert not types & {"LoadLeviTorModel", "LeviTorSampler"}
    assert {"ImageOnlyCheckpointLoader", "KSampler", "LeviTorApplyControlNet", "VAEDecode"} <= types


@pytest.mark.parametrize("name", NAMES)
def test_every_model_downloads_as_safetensors_into_its_node(pack, fake_host, monkeypatch, name):
    """Each model the missing-models dialog downloads is a safetensors file from the hub, and once
    saved in ``models/<directory>`` the node that names it offers it."""
    monkeypatch.setattr(wrapper_workflows, "CORE_WIDGETS", {**wrapper_workflows.CORE_WIDGETS, **NATIVE_WIDGETS})
    ui = json.loads((UI_DIR / f"{name}.json").read_text())
    for m in ui["models"]:
        assert m["name"].endswith(".safetensors") and m["url"].endswith(".safetensors")
        assert m["url"].startswith(DOWNLOAD_HOSTS)
    wrapper_workflows.check_downloads_reach_their_nodes(pack, fake_host, ui)
