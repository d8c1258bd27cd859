"""Runs the editors' pure-logic tests (web/tests/*.test.mjs) under Node's built-in test runner."""

import shutil
import subprocess
from pathlib import Path

import pytest

WEB_TESTS = Path(__file__).resolve().parent.parent / "web" / "tests"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed: the editor logic tests need `node`")
def test_editor_logic_under_node_test_runner():
    files = sorted(str(p) for p in WEB_TESTS.glob("*.test.mjs"))
    assert files, "no web tests found"
    r = subprocess.run([NODE, "--test", *files], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "# fail 0" in r.stdout
