"""The example workflows in a real ComfyUI, headless on the CPU, with tiny random models.

Needs ``COMFYUI_DIR`` (a ComfyUI checkout) and ``COMFYUI_PYTHON`` (its venv's python, with this
project's requirements installed); skipped otherwise. Uses the ComfyUI host runner
``run_workflow.py`` from the folder ``LEVITOR_HOST_TOOLS`` names, which starts a private server
on loopback, checks the pack imported and every node type exists, submits the API-format
workflow and fails on validation or execution errors or a missing output file. The workflows run
with tiny random models and small settings (144x256, 4 frames, 1 step).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from fakes.workflow_models import fast_variant, write_workflow_models  # noqa: E402

pytestmark = pytest.mark.comfyui

COMFY_DIR = os.environ.get("COMFYUI_DIR")
COMFY_PY = os.environ.get("COMFYUI_PYTHON")
RUNNER = Path(os.environ.get("LEVITOR_HOST_TOOLS", "")) / "run_workflow.py"
NAMES = sorted(p.name[: -len("_api.json")] for p in (REPO / "tests" / "workflows").glob("*_api.json"))

if not (COMFY_DIR and COMFY_PY):
    pytest.skip("set COMFYUI_DIR and COMFYUI_PYTHON to run the workflows in a real ComfyUI host",
                allow_module_level=True)
if not os.environ.get("LEVITOR_HOST_TOOLS") or not RUNNER.is_file():
    pytest.skip("set LEVITOR_HOST_TOOLS to the folder of the ComfyUI host runner run_workflow.py",
                allow_module_level=True)


@pytest.fixture(scope="module")
def host_models(tmp_path_factory):
    return write_workflow_models(tmp_path_factory.mktemp("host_models"))


@pytest.mark.parametrize("name", NAMES)
def test_workflow_runs_in_comfyui(host_models, tmp_path, name):
    api = json.loads((REPO / "tests" / "workflows" / f"{name}_api.json").read_text())
    workflow = tmp_path / f"{name}_fast_api.json"
    workflow.write_text(json.dumps(fast_variant(api)))
    image = tmp_path / "levitor_demo.png"
    shutil.copy(REPO / "levitor" / "assets" / "demo" / "image.png", image)
    result = tmp_path / "result.json"
    cmd = [sys.executable, str(RUNNER), "--comfy-dir", COMFY_DIR, "--python", COMFY_PY,
           "--node-package", str(REPO), "--workflow", str(workflow), "--copy-input", str(image),
           "--disable-core-custom-nodes", "--expect-files", "1", "--timeout", "900", "--json-out", str(result)]
    for key in ("diffusers", "levitor", "sams", "depthanything"):
        cmd += ["--model-dir", key, str(host_models / key)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (
        f"run_workflow.py exited {proc.returncode} for {name}\n--- stdout\n{proc.stdout[-6000:]}\n"
        f"--- stderr\n{proc.stderr[-4000:]}")
