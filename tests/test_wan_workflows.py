"""The Wan example workflows (Wan-Move and ATI with LeviTor's point tracks): UI and API twins agree,
they use core nodes besides ours, and every model they name is listed with its download."""

from __future__ import annotations

import json

import pytest

import test_workflows as wrapper_workflows
from fakes.comfy_host import REPO_ROOT, fake_host, pack  # noqa: F401  (fixtures)

UI_DIR = REPO_ROOT / "example_workflows"
API_DIR = REPO_ROOT / "tests" / "workflows" / "wan"
NAMES = sorted(p.stem for p in UI_DIR.glob("levitor_wan_*.json"))
#: widget names, in the frontend's order, of the core nodes these workflows add (checked against the
#: real host's node definitions by tests/integration/test_wan_workflows_host.py)
WAN_WIDGETS = {
    "UNETLoader": ["unet_name", "weight_dtype"],
    "ModelSamplingSD3": ["shift"],
    "CLIPLoader": ["clip_name", "type", "device"],
    "CLIPTextEncode": ["text"],
    "VAELoader": ["vae_name"],
    "CLIPVisionLoader": ["clip_name"],
    "CLIPVisionEncode": ["crop"],
    "WanMoveTrackToVideo": ["strength", "width", "height", "length", "batch_size"],
    "WanTrackToVideo": ["tracks", "width", "height", "length", "batch_size", "temperature", "topk"],
    "WanMoveVisualizeTracks": ["line_resolution", "circle_size", "opacity", "line_width"],
    "KSampler": ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "VAEDecode": [],
}
DIRECTORIES = {"diffusion_models", "text_encoders", "vae", "clip_vision", "sams", "depthanything"}


def test_there_are_a_wan_move_and_an_ati_workflow_with_twins():
    assert NAMES == ["levitor_wan_ati", "levitor_wan_move"]
    assert sorted(p.name[: -len("_api.json")] for p in API_DIR.glob("*_api.json")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_ui_and_api_twins_agree(pack, monkeypatch, name):
    monkeypatch.setattr(wrapper_workflows, "CORE_WIDGETS", {**wrapper_workflows.CORE_WIDGETS, **WAN_WIDGETS})
    ui = json.loads((UI_DIR / f"{name}.json").read_text())
    api = json.loads((API_DIR / f"{name}_api.json").read_text())
    assert wrapper_workflows.ui_to_api(pack, ui) == {k: {"class_type": v["class_type"], "inputs": v["inputs"]}
                                                     for k, v in api.items()}
    types = {n["class_type"] for n in api.values()}
    assert not types & {"LoadLeviTorModel", "LeviTorSampler", "LeviTorRenderMovedMasks"}
    ours, core = ("LeviTorWanMoveTracks", "WanMoveTrackToVideo") if name.endswith("move") else \
        ("LeviTorATITracks", "WanTrackToVideo")
    assert {ours, core, "UNETLoader", "KSampler", "VAEDecode"} <= types
    (cond,) = [n for n in api.values() if n["class_type"] == core]
    (tracks_id,) = [k for k, n in api.items() if n["class_type"] == ours]
    assert cond["inputs"]["tracks"] == [tracks_id, 0]
    planner = api[tracks_id]["inputs"]
    # the tracks are planned for the video the Wan node makes
    assert (planner["width"], planner["height"]) == (cond["inputs"]["width"], cond["inputs"]["height"])
    if core == "WanMoveTrackToVideo":
        assert planner["length"] == cond["inputs"]["length"] and (planner["length"] - 1) % 4 == 0


@pytest.mark.parametrize("name", NAMES)
def test_every_model_is_listed_with_a_safetensors_download(name):
    ui = json.loads((UI_DIR / f"{name}.json").read_text())
    models = {m["name"]: m for m in ui["models"]}
    used = {v for n in ui["nodes"] for v in n.get("widgets_values", [])
            if isinstance(v, str) and v.endswith((".safetensors", ".pth", ".pt", ".ckpt", ".bin"))}
    assert used == set(models), "every model file a node names is listed, and only those"
    for m in models.values():
        assert m["name"].endswith(".safetensors") and m["url"].endswith(".safetensors")
        assert m["url"].startswith("https://huggingface.co/") and m["directory"] in DIRECTORIES
