"""The pack folder, imported under any name, and the command-line library share one ``levitor``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _copy_pack(dst: Path) -> Path:
    # the pack as a user has it: no tests, benchmarks or training, and none of what a checkout may
    # hold beside it (a virtual environment made in it, caches, build metadata, demo outputs)
    ignore = shutil.ignore_patterns(".git", "__pycache__", "tests", "*.jpg", "bench", "train", "venv", ".venv",
                                    "*.egg-info", ".hypothesis", ".pytest_cache", "node_modules", "levitor_demo")
    shutil.copytree(REPO, dst, ignore=ignore)
    return dst


def _run(code: str, cwd: Path, extra_path: list[str] | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(extra_path or [])
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


WITH_V3_API = f"""
import sys
sys.path.insert(0, {str(REPO / "tests")!r})
from fakes import comfy_api
comfy_api.install()
"""

IMPORT_LIKE_COMFYUI = """
import importlib.util, sys, os
folder = sys.argv[1] if len(sys.argv) > 1 else {folder!r}
spec = importlib.util.spec_from_file_location("ComfyUI-LeviTor", os.path.join(folder, "__init__.py"),
                                              submodule_search_locations=[folder])
pack = importlib.util.module_from_spec(spec)
sys.modules["ComfyUI-LeviTor"] = pack
spec.loader.exec_module(pack)
import levitor, levitor.planning.plan
from levitor.planning.scene import Scene
"""


def test_pack_registers_its_own_library_as_levitor(tmp_path):
    pack_dir = _copy_pack(tmp_path / "custom_nodes" / "comfyui-levitor")
    code = WITH_V3_API + IMPORT_LIKE_COMFYUI.format(folder=str(pack_dir)) + """
editor = sys.modules["ComfyUI-LeviTor.nodes.trajectory_editor"]
print(os.path.dirname(levitor.__file__))
assert "ComfyUI-LeviTor.levitor" not in sys.modules
assert not hasattr(pack, "NODE_CLASS_MAPPINGS") and callable(pack.comfy_entrypoint)
"""
    res = _run(code, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip().splitlines()[-1]).resolve() == (pack_dir / "levitor").resolve()


def test_pack_prefers_its_copy_over_another_installed_one(tmp_path):
    pack_dir = _copy_pack(tmp_path / "custom_nodes" / "LeviTor")
    other = tmp_path / "site" / "levitor"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("OTHER = True\n")
    code = WITH_V3_API + IMPORT_LIKE_COMFYUI.format(folder=str(pack_dir)) + "print(levitor.__file__)\n"
    res = _run(code, cwd=tmp_path, extra_path=[str(tmp_path / "site")])
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()).resolve() == (pack_dir / "levitor" / "__init__.py").resolve()


def test_an_already_imported_levitor_is_kept_single(tmp_path):
    pack_dir = _copy_pack(tmp_path / "custom_nodes" / "levitor-pack")
    code = (f"import sys; sys.path.insert(0, {str(pack_dir)!r}); import levitor; first = levitor\n"
            + WITH_V3_API + IMPORT_LIKE_COMFYUI.format(folder=str(pack_dir))
            + "assert sys.modules['levitor'] is first\nprint('ok')\n")
    res = _run(code, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("ok")


def test_a_host_without_the_v3_api_gets_one_log_line_and_no_nodes(tmp_path):
    pack_dir = _copy_pack(tmp_path / "custom_nodes" / "comfyui-levitor")
    code = ("import logging; logging.basicConfig(level=logging.INFO, format='%(levelname)s %(message)s')\n"
            + IMPORT_LIKE_COMFYUI.format(folder=str(pack_dir))
            + "assert pack.NODE_CLASS_MAPPINGS == {} and not hasattr(pack, 'comfy_entrypoint')\nprint('ok')\n")
    res = _run(code, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().endswith("ok")
    lines = [line for line in res.stderr.splitlines() if "levitor" in line.lower()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("WARNING") and "V3 node API" in lines[0] and "0.3.64" in lines[0]
