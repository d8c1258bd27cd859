"""The warped-video example workflows (Wan VACE; SVD-xt with two clocks): UI format converts to the
prompt the real frontend makes of it (the API twins in tests/workflows/warp/ were converted by the
ComfyUI 0.18.1 frontend, and the host validated them: only the model and image files were missing),
our nodes get every input they need, the warped video and its mask reach the model where the core
nodes read them, and every model is a downloadable safetensors file."""

from __future__ import annotations

import json

import pytest

import test_workflows as wrapper_workflows
from fakes.comfy_host import REPO_ROOT, fake_host, node_map, pack  # noqa: F401  (fixtures)

UI_DIR = REPO_ROOT / "example_workflows"
API_DIR = REPO_ROOT / "tests" / "workflows" / "warp"
NAMES = wrapper_workflows.WARP_NAMES
#: widget names, in the frontend's order, of the core nodes these workflows add (read from the
#: core node definitions of ComfyUI 0.18.1: comfy_extras/nodes_wan.py, nodes_mask.py, nodes.py)
CORE_WIDGETS = {
    "GrowMask": ["expand", "tapered_corners"],
    "UNETLoader": ["unet_name", "weight_dtype"],
    "CLIPLoader": ["clip_name", "type", "device"],
    "VAELoader": ["vae_name"],
    "CLIPTextEncode": ["text"],
    "WanVaceToVideo": ["width", "height", "length", "batch_size", "strength"],
    "ModelSamplingSD3": ["shift"],
    "KSampler": ["seed", "control_after_generate", "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "KSamplerAdvanced": ["add_noise", "noise_seed", "control_after_generate", "steps", "cfg", "sampler_name",
                         "scheduler", "start_at_step", "end_at_step", "return_with_leftover_noise"],
    "TrimVideoLatent": ["trim_amount"],
    "VAEDecode": [],
    "VAEEncode": [],
    "ImageOnlyCheckpointLoader": ["ckpt_name"],
    "SVD_img2vid_Conditioning": ["width", "height", "video_frames", "motion_bucket_id", "fps", "augmentation_level"],
    "VideoLinearCFGGuidance": ["min_cfg"],
    "InvertMask": [],
    "SolidMask": ["value", "width", "height"],
    "SetLatentNoiseMask": [],
}
DOWNLOAD_DIRS = {"checkpoints", "diffusion_models", "text_encoders", "vae", "sams", "depthanything"}


def _api(pack, monkeypatch, name):
    monkeypatch.setattr(wrapper_workflows, "CORE_WIDGETS", {**wrapper_workflows.CORE_WIDGETS, **CORE_WIDGETS})
    ui = json.loads((UI_DIR / f"{name}.json").read_text())
    return ui, wrapper_workflows.ui_to_api(pack, ui)


def _by_type(api, class_type):
    return [(nid, n) for nid, n in api.items() if n["class_type"] == class_type]


def test_there_are_the_two_warped_video_workflows():
    assert NAMES == ["levitor_warp_svd_two_clocks", "levitor_warp_wan_vace"]


@pytest.mark.parametrize("name", NAMES)
def test_ui_and_api_twins_agree(pack, monkeypatch, name):
    _, converted = _api(pack, monkeypatch, name)
    api = json.loads((API_DIR / f"{name}_api.json").read_text())
    assert converted == {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in api.items()}


@pytest.mark.parametrize("name", NAMES)
def test_our_nodes_get_their_inputs_and_the_warped_video_reaches_the_model(pack, monkeypatch, name):
    ui, api = _api(pack, monkeypatch, name)
    ours = node_map(pack)
    for nid, node in api.items():
        if node["class_type"] in ours:
            required = ours[node["class_type"]].INPUT_TYPES()["required"]
            assert set(required) <= set(node["inputs"]), (nid, set(required) - set(node["inputs"]))
        else:
            assert node["class_type"] in wrapper_workflows.CORE_WIDGETS, node["class_type"]
    (warp_id, warp), = _by_type(api, "LeviTorWarpedVideo")
    (render_id, render), = _by_type(api, "LeviTorRenderMovedMasks")
    assert warp["inputs"]["moved_masks"] == [render_id, 0]
    frames = render["inputs"]["num_frames"]
    if name == "levitor_warp_wan_vace":
        (_, vace), = _by_type(api, "WanVaceToVideo")
        assert vace["inputs"]["control_video"] == [warp_id, 0]
        grow_id, grow = _by_type(api, "GrowMask")[0]
        assert grow["inputs"]["mask"] == [warp_id, 1] and vace["inputs"]["control_masks"] == [grow_id, 0]
        # one control frame per video frame; Wan's video length is 4 k + 1
        assert vace["inputs"]["length"] == frames and frames % 4 == 1
        (_, trim), = _by_type(api, "TrimVideoLatent")
        assert trim["inputs"]["trim_amount"][1] == 3  # WanVaceToVideo's trim_latent
    else:
        (_, cond), = _by_type(api, "SVD_img2vid_Conditioning")
        assert cond["inputs"]["video_frames"] == frames
        (enc_id, enc), = _by_type(api, "VAEEncode")
        (scale_id, scale), = [(i, n) for i, n in _by_type(api, "ImageScale") if n["inputs"]["image"] == [warp_id, 0]]
        assert enc["inputs"]["pixels"] == [scale_id, 0]
        assert (scale["inputs"]["width"], scale["inputs"]["height"]) == (cond["inputs"]["width"], cond["inputs"]["height"])
        first, second = sorted(_by_type(api, "KSamplerAdvanced"), key=lambda kv: kv[1]["inputs"]["start_at_step"])
        a, b = first[1]["inputs"], second[1]["inputs"]
        # clock 1: the moved parts (the mask inverted: kept, not denoised) follow the warped video
        noise1 = api[a["latent_image"][0]]["inputs"]
        assert noise1["samples"] == [enc_id, 0] and api[noise1["mask"][0]]["class_type"] == "InvertMask"
        assert api[noise1["mask"][0]]["inputs"]["mask"] == [warp_id, 1]
        assert a["add_noise"] == "enable" and a["return_with_leftover_noise"] == "enable"
        assert 0 < a["start_at_step"] < a["end_at_step"] == b["start_at_step"] < a["steps"] == b["steps"]
        # clock 2: everything denoised (a full noise mask), no new noise
        noise2 = api[b["latent_image"][0]]["inputs"]
        assert noise2["samples"] == [first[0], 0] and api[noise2["mask"][0]]["class_type"] == "SolidMask"
        assert api[noise2["mask"][0]]["inputs"]["value"] == 1.0 and b["add_noise"] == "disable"


@pytest.mark.parametrize("name", NAMES)
def test_every_model_is_a_downloadable_safetensors_file(name):
    ui = json.loads((UI_DIR / f"{name}.json").read_text())
    models = {m["name"]: m for m in ui["models"]}
    used = {v for n in ui["nodes"] for v in n.get("widgets_values", [])
            if isinstance(v, str) and v.endswith((".safetensors", ".pth", ".pt", ".ckpt", ".bin"))}
    assert used == set(models)
    for m in models.values():
        assert m["url"].startswith("https://huggingface.co/")
        if m["directory"] not in {"sams", "depthanything"}:  # those two are renamed on download
            assert m["url"].endswith("/" + m["name"])
        assert m["name"].endswith(".safetensors") and m["url"].endswith(".safetensors")
        assert m["directory"] in DOWNLOAD_DIRS
