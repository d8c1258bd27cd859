"""The native example workflows headless in a real ComfyUI with tiny models.

Every node runs as shipped except the SVD checkpoint loader: the core ``ImageOnlyCheckpointLoader``
only recognises full-width SVD files, so the test loader ``tiny_svd_host`` (ComfyUI's own SVD
classes at the tiny file's sizes) stands in for it. Small settings: 144x256, 4 frames, 1 step.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.tiny_svd_file import NATIVE_MODEL_FILES, write_native_workflow_models
from fakes.workflow_models import fast_variant
from test_comfyui_host import REPO, RUNNER, host  # noqa: F401  (the host fixture; skips this module where that skips)

pytestmark = pytest.mark.comfyui

HERE = Path(__file__).resolve().parent
API_DIR = REPO / "tests" / "workflows" / "native"
NAMES = sorted(p.name[: -len("_api.json")] for p in API_DIR.glob("*_api.json"))


def tiny_variant(api: dict) -> dict:
    out = fast_variant(api)
    for node in out.values():
        if node["class_type"] == "ImageOnlyCheckpointLoader":
            node["class_type"] = "LeviTorTestTinySVDLoader"
        if node["class_type"] == "KSampler":
            node["inputs"]["steps"] = 1
    return out


@pytest.fixture(scope="module")
def host_models(tmp_path_factory):
    return write_native_workflow_models(tmp_path_factory.mktemp("native_models"))


@pytest.mark.parametrize("name", NAMES)
def test_native_workflow_runs_in_comfyui(host, host_models, tmp_path, name):  # noqa: F811
    api = json.loads((API_DIR / f"{name}_api.json").read_text())
    workflow = tmp_path / f"{name}_tiny_api.json"
    workflow.write_text(json.dumps(tiny_variant(api)))
    image = tmp_path / "levitor_demo.png"
    shutil.copy(REPO / "levitor" / "assets" / "demo" / "image.png", image)
    cmd = [sys.executable, str(RUNNER), "--comfy-dir", host.comfy_dir, "--python", host.python,
           "--node-package", str(REPO), "--node-package", str(HERE / "tiny_svd_host"),
           "--workflow", str(workflow), "--copy-input", str(image), "--disable-core-custom-nodes",
           "--expect-files", "1", "--timeout", "900", "--json-out", str(tmp_path / "result.json")]
    for key in NATIVE_MODEL_FILES:
        cmd += ["--model-dir", key, str(host_models / key)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (
        f"run_workflow.py exited {proc.returncode} for {name}\n--- stdout\n{proc.stdout[-6000:]}\n"
        f"--- stderr\n{proc.stderr[-4000:]}")
