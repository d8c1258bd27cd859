"""The native nodes inside a real ComfyUI: residuals and a whole KSampler graph against the library.

Runs ``native_host_check.py`` with the host's python (``COMFYUI_DIR``, ``COMFYUI_PYTHON``); see
its docstring for what is compared and the tolerances.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
COMFY_DIR = os.environ.get("COMFYUI_DIR")
COMFY_PY = os.environ.get("COMFYUI_PYTHON")

pytestmark = pytest.mark.comfyui

if not (COMFY_DIR and COMFY_PY):
    pytest.skip("set COMFYUI_DIR and COMFYUI_PYTHON to run the native nodes in a real ComfyUI host",
                allow_module_level=True)


def run_check(name: str, work: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([COMFY_PY, str(HERE / "native_host_check.py"), COMFY_DIR, name, str(work)],
                          capture_output=True, text=True, timeout=1200, cwd=COMFY_DIR, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the {name} check (rc {proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    result = json.loads(lines[-1])
    assert proc.returncode == 0 and result["ok"], result
    return result


def test_native_controlnet_residuals_equal_the_library_model(tmp_path):
    result = run_check("residuals", tmp_path)
    assert result["count"] == 12 and result["max_abs_diff"] <= 1e-4
    assert all(result["errors"].values()), result["errors"]


def test_native_graph_gives_the_pipeline_frames(tmp_path):
    result = run_check("graph", tmp_path)
    assert result["clip_embedding_max_abs_diff"] < 1e-5
    assert result["latent_max_abs_diff"] <= result["latent_tolerance"]
