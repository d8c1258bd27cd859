"""The native nodes inside a real ComfyUI: residuals and a whole KSampler graph against the library.

Runs ``native_host_check.py`` with the python of every host ``tests/hosts.py`` finds (the oldest
supported and the newest tested ComfyUI); see its docstring for what is compared and the tolerances.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from hosts import HOSTS, NO_HOST, host_params  # noqa: E402

pytestmark = pytest.mark.comfyui

if not HOSTS:
    pytest.skip(NO_HOST, allow_module_level=True)


@pytest.fixture(scope="module", params=host_params())
def host(request):
    return request.param


def run_check(host, name: str, work: Path, *args: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([host.python, str(HERE / "native_host_check.py"), host.comfy_dir, name, str(work), *args],
                          capture_output=True, text=True, timeout=1200, cwd=host.comfy_dir, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from the {name} check (rc {proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    result = json.loads(lines[-1])
    assert proc.returncode == 0 and result["ok"], result
    return result


def test_native_controlnet_residuals_equal_the_library_model(host, tmp_path):
    result = run_check(host, "residuals", tmp_path)
    assert result["count"] == 12 and result["max_abs_diff"] <= 1e-4
    # loaded as --lowvram loads it (that flag excludes --cpu): every layer cast per call, same residuals
    assert result["lowvram_cast_layers"] > 300 and result["lowvram_max_abs_diff"] <= 1e-4
    assert all(result["errors"].values()), result["errors"]


def test_native_graph_gives_the_pipeline_frames(host, tmp_path):
    result = run_check(host, "graph", tmp_path)
    assert result["clip_embedding_max_abs_diff"] < 1e-5
    assert result["latent_max_abs_diff"] <= result["latent_tolerance"]


def test_native_controlnet_layers_take_their_weights_from_comfy_ops(host, tmp_path):
    """Dynamic VRAM cannot run on the CPU (ComfyUI hands a CPU model a plain ModelPatcher), so this
    checks what it relies on: every layer gets its weights from ``cast_bias_weight`` (they may live
    elsewhere) and, where that returns three values, gives them back with ``uncast_bias_weight``."""
    result = run_check(host, "casting", tmp_path)
    assert result["layers"] > 300 and result["layers_called"] == result["layers"], result
    assert result["max_abs_diff"] == 0.0
    # only the temporal blend factors live outside the casting layers; they follow the activations
    assert {name.rsplit(".", 1)[-1] for name in result["params_outside_cast_layers"]} == {"mix_factor"}
    if host.role == "current":
        assert result["returned_values"] == [3] and result["offloadable"] and result["uncast_matched"], result
