"""The Wan example workflows in a real ComfyUI: the widgets we store are the ones core's Wan nodes
declare, in their order, and the planning part of each workflow (image, depth, masks, editor, our
point-track node and, for Wan-Move, core's track visualiser) runs headless with tiny models.

The generation part (the 14B Wan models) is not run: only its node definitions are checked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from hosts import has_tracks

from fakes.workflow_models import fast_variant, write_workflow_models
from test_comfyui_host import REPO, RUNNER, host  # noqa: F401  (the host fixture; skips this module where that skips)
from test_wan_workflows import WAN_WIDGETS

pytestmark = pytest.mark.comfyui

API_DIR = REPO / "tests" / "workflows" / "wan"
NAMES = sorted(p.name[: -len("_api.json")] for p in API_DIR.glob("*_api.json"))
#: nodes that need the Wan models, and everything downstream of them, are left out of the run
MODEL_LOADERS = {"UNETLoader", "CLIPLoader", "VAELoader", "CLIPVisionLoader"}



SMALL = {"LeviTorWanMoveTracks": {"width": 144, "height": 256, "length": 9},
         "LeviTorATITracks": {"width": 144, "height": 256}}

WIDGET_CHECK = """
import json, sys, asyncio
sys.argv = [sys.argv[0], "--cpu"]
import comfy.options
comfy.options.enable_args_parsing()
import nodes
asyncio.run(nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False))
WIDGETS = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
out = {}
for name in NAMES:
    cls = nodes.NODE_CLASS_MAPPINGS.get(name)
    if cls is None:
        out[name] = None
        continue
    spec = cls.INPUT_TYPES()
    names = []
    for section in ("required", "optional"):
        for key, entry in spec.get(section, {}).items():
            kind = entry[0]
            opts = entry[1] if len(entry) > 1 and isinstance(entry[1], dict) else {}
            if (isinstance(kind, list) or kind in WIDGETS) and not opts.get("forceInput"):
                names.append(key)
                if opts.get("control_after_generate") or key in ("seed", "noise_seed"):
                    names.append("control_after_generate")
    out[name] = names
print("RESULT " + json.dumps(out))
"""


def test_core_wan_nodes_declare_the_widgets_the_workflows_store(host):
    core = sorted(WAN_WIDGETS)
    code = f"NAMES = {core!r}\n" + WIDGET_CHECK
    proc = subprocess.run([host.python, "-c", code], cwd=host.comfy_dir, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    found = json.loads(proc.stdout.split("RESULT ", 1)[1])
    if not has_tracks(host):  # an older ComfyUI: the Wan-Move nodes are missing there, the rest must match
        assert found["WanMoveTrackToVideo"] is None
        found = {k: v for k, v in found.items() if k not in ("WanMoveTrackToVideo", "WanMoveVisualizeTracks")}
    for name, names in found.items():
        assert names == WAN_WIDGETS[name], name


def planning_part(api: dict, loaders=MODEL_LOADERS) -> dict:
    """The nodes that need none of the big models (``loaders`` and all downstream of them), with
    small settings; image previews are saved, so that the run leaves files to check."""
    dropped = {k for k, n in api.items() if n["class_type"] in loaders}
    grew = True
    while grew:
        grew = False
        for k, n in api.items():
            if k not in dropped and any(isinstance(v, list) and v[0] in dropped for v in n["inputs"].values()):
                dropped.add(k)
                grew = True
    out = fast_variant({k: v for k, v in api.items() if k not in dropped})
    for node in out.values():
        node["inputs"].update(SMALL.get(node["class_type"], {}))
        if node["class_type"] == "PreviewImage":
            node["class_type"] = "SaveImage"
            node["inputs"]["filename_prefix"] = "planning_preview"
    return out


@pytest.fixture(scope="module")
def host_models(tmp_path_factory):
    return write_workflow_models(tmp_path_factory.mktemp("wan_models"))


def run_planning_part(host, host_models, tmp_path, name: str, api: dict) -> None:
    """Run ``api`` (a planning part) headless with the tiny SAM and depth models and the demo image."""
    workflow = tmp_path / f"{name}_planning_api.json"
    workflow.write_text(json.dumps(api))
    image = tmp_path / "levitor_demo.png"
    shutil.copy(REPO / "levitor" / "assets" / "demo" / "image.png", image)
    cmd = [sys.executable, str(RUNNER), "--comfy-dir", host.comfy_dir, "--python", host.python,
           "--node-package", str(REPO), "--workflow", str(workflow), "--copy-input", str(image),
           "--disable-core-custom-nodes", "--expect-files", "1", "--timeout", "900",
           "--json-out", str(tmp_path / "result.json")]
    for key in ("sams", "depthanything"):
        cmd += ["--model-dir", key, str(host_models / key)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (
        f"run_workflow.py exited {proc.returncode} for {name}\n--- stdout\n{proc.stdout[-6000:]}\n"
        f"--- stderr\n{proc.stderr[-4000:]}")


@pytest.mark.parametrize("name", NAMES)
def test_the_planning_part_runs(host, host_models, tmp_path, name):
    if name == "levitor_wan_move" and not has_tracks(host):
        pytest.skip("this ComfyUI has no Wan-Move nodes (no TRACKS type)")
    api = planning_part(json.loads((API_DIR / f"{name}_api.json").read_text()))
    assert not {n["class_type"] for n in api.values()} & MODEL_LOADERS
    run_planning_part(host, host_models, tmp_path, name, api)
