"""The published pack: what .comfyignore leaves, its metadata, and the security lint over it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import xml.dom.minidom
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import publish  # noqa: E402

PUBLISHED_TOP = {"__init__.py", "nodes", "levitor", "web", "example_workflows", "locales", "requirements.txt",
                 "pyproject.toml", "README.md", "LICENSE"}


def test_published_files_are_what_runs_in_comfyui():
    files = publish.published_files()
    assert {f.split("/")[0] for f in files} == PUBLISHED_TOP
    for left_out in ("tests/", ".ci/", "bench/", "train/", "docs/", "tools/", "web/tests/"):
        assert not any(f.startswith(left_out) for f in files), left_out
    assert "nodes/__init__.py" in files and "locales/en/nodeDefs.json" in files
    assert "example_workflows/index.json" in files and "web/js/levitor_editors.js" in files


def test_ignore_patterns_follow_gitignore_rules():
    pats = ["tests/", "*.pyc", "web/tests/", "LICENSE.old"]
    assert publish.ignored("tests/a.py", pats) and publish.ignored("levitor/x/tests/b.py", pats)
    assert publish.ignored("nodes/__pycache__/a.pyc", pats) and publish.ignored("web/tests/x.mjs", pats)
    assert not publish.ignored("levitor/tests.py", pats) and not publish.ignored("web/js/tests.js", pats)
    assert not publish.ignored("LICENSE", pats) and publish.ignored("LICENSE.old", pats)


def test_the_lint_passes_on_the_published_pack():
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "publish.py"), "lint"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 finding(s)" in proc.stdout


BAD = textwrap.dedent('''
    import os
    import subprocess
    import urllib.request

    PAGE = urllib.request.urlopen("https://example.com").read()   # network at import

    def run(cmd, text):
        eval(text)
        exec("x = 1")
        subprocess.run(cmd, shell=True)
        subprocess.check_call([sys.executable, "-m", "pip", "install", "foo"])
        os.system("ls")
''')
GOOD = textwrap.dedent('''
    import subprocess
    import urllib.request

    def fetch(url):
        return urllib.request.urlopen(url).read()   # only when called

    def listing(path):
        subprocess.run(["ls", path], shell=False)
        raise ValueError("this needs bitsandbytes: pip install bitsandbytes")
''')


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "pack"
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    return repo


def test_the_lint_catches_a_planted_bad_file(tmp_path):
    repo = _plant(tmp_path, {".comfyignore": "tests/\n", "nodes/bad.py": BAD, "nodes/good.py": GOOD,
                             "tests/also_bad.py": BAD, "web/js/bad.js": "const f = new Function('a', 'b');\n"
                             "window.eval('1');\nconst y = eval(x); // eval( in a comment\n"})
    findings = publish.lint(repo)
    where = {(f.path, f.line) for f in findings}
    text = [str(f) for f in findings]
    assert all(f.path in ("nodes/bad.py", "web/js/bad.js") for f in findings), text  # ignored and clean files pass
    assert ("nodes/bad.py", 6) in where  # urlopen at import
    for line, what in ((9, "eval"), (10, "exec"), (11, "shell=True"), (12, "pip install"), (13, "os.system")):
        assert any(f.line == line and what in f.what for f in findings if f.path == "nodes/bad.py"), (line, text)
    js = sorted(f.line for f in findings if f.path == "web/js/bad.js")
    assert js == [1, 3], text
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "publish.py"), "lint", str(repo)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "nodes/bad.py:9: calls eval()" in proc.stdout


def test_registry_metadata():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    comfy = meta["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] and comfy["requires-comfyui"].startswith(">=")
    for key in ("Icon", "banner_url"):
        name = comfy[key].rsplit("/", 1)[-1]
        assert comfy[key].startswith("https://") and (REPO / "docs" / "images" / name).is_file()
    icon = xml.dom.minidom.parse(str(REPO / "docs" / "images" / "icon.svg")).documentElement
    assert icon.getAttribute("width") == icon.getAttribute("height") and int(icon.getAttribute("width")) <= 400
    urls = meta["project"]["urls"]
    assert {"Repository", "Documentation", "Bug Tracker"} <= set(urls)
    classifiers = meta["project"]["classifiers"]
    assert "Environment :: GPU :: NVIDIA CUDA" in classifiers and "Environment :: GPU :: Apple Metal" in classifiers
    assert any(c.startswith("Operating System :: ") for c in classifiers)
    assert meta["project"]["license"] in ("Apache-2.0", {"text": "Apache-2.0"})  # SPDX or the table form
    assert "Apache License" in (REPO / "LICENSE").read_text() and "Version 2.0" in (REPO / "LICENSE").read_text()


def _requirement_names(lines):
    return {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower() for line in lines
            if line.strip() and not line.strip().startswith("#")}


def test_installing_the_pack_never_replaces_comfyuis_torch():
    req = (REPO / "requirements.txt").read_text().splitlines()
    assert not _requirement_names(req) & {"torch", "torchvision", "torchaudio", "xformers"}
    assert not any("index-url" in line or "--extra" in line for line in req)
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        if _requirement_names([dep]) & {"torch", "torchvision", "torchaudio"}:
            assert re.fullmatch(r"torch>=\d+\.\d+", dep), f"{dep}: a bare lower bound, never a pin"


def test_example_workflow_index_is_published(tmp_path):
    out = tmp_path / "pack.zip"
    size = publish.build(out)
    import zipfile

    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        index = json.loads(zf.read("example_workflows/index.json"))
    assert sorted(names) == sorted(publish.published_files()) and size == out.stat().st_size
    assert index[0]["templates"]
    assert not any(n.startswith(("tests/", ".ci/", "tools/")) for n in names)
