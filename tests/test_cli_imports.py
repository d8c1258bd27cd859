"""What each command imports: light commands (help, version, argument errors) load no torch and
no generation stack; ``levitor plan`` and ``levitor demo`` load no diffusers or transformers.

Each command runs in a fresh interpreter, which then reports the modules it holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARK = "@@modules@@"
# Packages no light command may load (the planner's and the generator's stacks).
HEAVY = ("torch", "diffusers", "transformers", "accelerate", "sklearn", "scipy")
GENERATION = ("diffusers", "transformers", "accelerate")

RUNNER = f"""
import json, sys
from levitor.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exc:
    rc = exc.code
sys.stdout.flush()
print({MARK!r} + json.dumps({{"rc": rc, "modules": sorted(m for m in sys.modules if "." not in m)}}))
"""


def run_in_fresh_interpreter(args: list[str], cwd: Path) -> tuple[int, set[str], str, str]:
    r = subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, cwd=cwd,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)}, timeout=600)
    out, _, report = r.stdout.rpartition(MARK)
    assert report, f"no report from the command (exit {r.returncode}):\n{r.stderr}"
    found = json.loads(report)
    return found["rc"], set(found["modules"]), out, r.stderr


LIGHT_COMMANDS = {
    "help": (["--help"], 0),
    "version": (["--version"], 0),
    "no command": ([], 2),
    "unknown command": (["paint"], 2),
    "plan help": (["plan", "--help"], 0),
    "generate help": (["generate", "--help"], 0),
    "demo help": (["demo", "--help"], 0),
    "plan bad fps": (["plan", "--fps", "0"], 2),
    "plan unknown flag": (["plan", "--colour", "red"], 2),
    "plan bad resize": (["plan", "--resize", "13x8"], 2),
    "plan empty camera": (["plan", "--camera", ""], 2),
    "plan long name": (["plan", "--out", "x" * 300], 2),
    "plan missing arguments": (["plan", "--out", "o"], 2),
    "generate bad steps": (["generate", "--steps", "0"], 2),
    "generate bad precision": (["generate", "--precision", "fp8"], 2),
    "demo bad frames": (["demo", "--frames", "1000"], 2),
}


@pytest.mark.parametrize("name", list(LIGHT_COMMANDS))
def test_light_commands_load_no_heavy_package(name, tmp_path):
    args, expected_rc = LIGHT_COMMANDS[name]
    rc, modules, out, err = run_in_fresh_interpreter(args, tmp_path)
    assert rc == expected_rc, err
    assert not modules & set(HEAVY), f"levitor {' '.join(args)} imported {sorted(modules & set(HEAVY))}"
    if expected_rc == 2:  # an argument error: one line on stderr
        assert len(err.strip().splitlines()) == 1 and "error:" in err, err
    if args == ["--help"]:
        assert all(c in out for c in ("plan", "demo", "generate"))


def test_the_heavy_package_list_is_what_the_commands_really_use(tmp_path):
    """The check above can fail: ``levitor plan`` on the demo scene does load torch and scikit-learn."""
    from levitor.cli.demo import demo_scene_args

    scene = demo_scene_args()
    args = ["plan", "--image", scene["image"], "--depth", scene["depth"], "--depth-kind", scene["depth_kind"],
            "--masks", *scene["masks"], "--static", *scene["static"], "--tracks", scene["tracks"],
            "--frames", "2", "--format", "gif", "--out", str(tmp_path / "out")]
    rc, modules, out, err = run_in_fresh_interpreter(args, tmp_path)
    assert rc == 0, err
    assert {"torch", "sklearn"} <= modules
    assert not modules & set(GENERATION), f"levitor plan imported {sorted(modules & set(GENERATION))}"
    assert (tmp_path / "out" / "control.npy").is_file()


def test_demo_loads_no_generation_stack_and_prints_no_stray_warning(tmp_path):
    rc, modules, out, err = run_in_fresh_interpreter(
        ["demo", "--frames", "2", "--format", "gif", "--out", str(tmp_path / "demo")], tmp_path)
    assert rc == 0, err
    assert not modules & set(GENERATION), f"levitor demo imported {sorted(modules & set(GENERATION))}"
    assert err == "", err  # no library warning (e.g. transformers about torchvision)
    assert "warning" not in out.lower()
