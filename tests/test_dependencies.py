"""Every third-party import of the library, the nodes, the trainer and the tests is declared.

Each source file belongs to a feature; the feature's requirements are the base dependencies plus
the extra that claims it (pyproject.toml), or ``requirements.txt`` plus what ComfyUI itself brings
for the nodes. Import names are mapped to distributions with the installed packages' own
metadata (``importlib.metadata.packages_distributions``), so a new import of an undeclared
package fails here, not on a user's fresh install.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]

# Which extra claims which files (first match wins; a path prefix relative to the repository).
FEATURE_EXTRAS = [
    ("levitor/perception/segmentation.py", "sam"),
    ("levitor/training/", "train"),
    ("train/", "train"),
    ("tests/", "dev"),
    ("levitor/", None),  # base dependencies only
]
# The node pack runs inside ComfyUI: requirements.txt plus the modules the host provides.
NODE_FILES = ("nodes/", "__init__.py")
# ComfyUI's own modules (the tests use the fake host in tests/fakes for them).
COMFYUI_MODULES = {"comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "server", "execution"}
HOST_PROVIDED = COMFYUI_MODULES | {"aiohttp", "torch", "torchvision", "torchaudio"}
# Optional imports (inside ``try: ... except ImportError``) that have a fallback and need no extra,
# with the reason.
OPTIONAL_WITHOUT_EXTRA = {"tensorboardX": "the trainer's fallback when tensorboard is missing"}
# Import names of packages that are not installed here (so their metadata cannot be read).
KNOWN_DISTRIBUTIONS = {"bitsandbytes": "bitsandbytes", "tensorboardX": "tensorboardx", "tomli": "tomli"}
# What a package imports without declaring it in its own metadata: it must come with it.
UNDECLARED_UPSTREAM = {"segment-anything": {"torchvision"}}
# Our own top-level names: the packages, and the test helpers beside the tests.
# ``levitor_pack``: the name a real-host check gives the pack folder when it imports it (as ComfyUI does).
LOCAL = {"levitor", "levitor_pack", "nodes", "tests", "train", "tools"} | {p.stem for p in (REPO / "tests").rglob("*.py")} | {
    p.parent.name for p in (REPO / "tests").rglob("__init__.py")} | {p.stem for p in (REPO / "tools").glob("*.py")}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _req_name(req: str) -> str:
    return _norm(re.split(r"[\s<>=!~;\[]", req.strip(), maxsplit=1)[0])


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _declared(extra: str | None) -> set[str]:
    project = _pyproject()["project"]
    names = {_req_name(r) for r in project["dependencies"]}
    pending = [extra] if extra else []
    seen = set()
    while pending:
        e = pending.pop()
        if e in seen:
            continue
        seen.add(e)
        for req in project["optional-dependencies"][e]:
            name = _req_name(req)
            if name == _norm(project["name"]):  # "levitor[sam,train]"
                pending += re.search(r"\[(.*)\]", req).group(1).split(",")
            else:
                names.add(name)
    return names


def _requirements_txt() -> set[str]:
    lines = (REPO / "requirements.txt").read_text().splitlines()
    return {_req_name(ln) for ln in lines if ln.strip() and not ln.lstrip().startswith("#")}


def _is_import_error_guard(handler_types: list[str]) -> bool:
    return any(t in ("ImportError", "ModuleNotFoundError") for t in handler_types)


def third_party_imports(path: Path) -> list[tuple[str, bool]]:
    """``(top-level module, optional)`` for every absolute import (module level or lazy) and every
    ``pytest.importorskip("x")`` in ``path``; ``optional`` when guarded by ``except ImportError``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            types = []
            for h in node.handlers:
                elts = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
                types += [e.id for e in elts if isinstance(e, ast.Name)]
            if _is_import_error_guard(types):
                for stmt in node.body:
                    guarded.update(id(n) for n in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            mods = [node.module]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "importorskip" and node.args and isinstance(node.args[0], ast.Constant)):
            mods = [node.args[0].value]
        else:
            continue
        for m in mods:
            top = m.split(".")[0]
            if top in sys.stdlib_module_names or top in LOCAL or top == "__future__":
                continue
            found.append((top, id(node) in guarded))
    return found


@functools.cache
def _installed() -> dict:
    return metadata.packages_distributions()


def distribution_of(module: str) -> str:
    dists = _installed().get(module)
    if dists:
        return _norm(dists[0])
    if module in KNOWN_DISTRIBUTIONS:
        return KNOWN_DISTRIBUTIONS[module]
    pytest.fail(f"cannot tell which distribution provides {module!r}; install it or add it to KNOWN_DISTRIBUTIONS")


def _sources() -> list[Path]:
    files = [REPO / "__init__.py"]
    for folder in ("levitor", "nodes", "train", "tests"):
        files += sorted((REPO / folder).rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def _feature(rel: str) -> str | None:
    for prefix, extra in FEATURE_EXTRAS:
        if rel.startswith(prefix):
            return extra
    raise AssertionError(f"{rel} belongs to no feature; add it to FEATURE_EXTRAS")


def test_every_import_is_declared_by_its_feature():
    every_extra = set()
    for extra in _pyproject()["project"]["optional-dependencies"]:
        every_extra |= _declared(extra)
    problems = []
    for path in _sources():
        rel = path.relative_to(REPO).as_posix()
        for module, optional in third_party_imports(path):
            if module in COMFYUI_MODULES:
                continue
            if rel.startswith(NODE_FILES):
                if module in HOST_PROVIDED or distribution_of(module) in _requirements_txt():
                    continue
                problems.append(f"{rel}: {module} is neither in requirements.txt nor provided by ComfyUI")
                continue
            dist = distribution_of(module)
            extra = _feature(rel)
            declared = _declared(extra)
            if dist in declared:
                lacking = UNDECLARED_UPSTREAM.get(dist, set()) - declared
                if lacking:
                    where = f"the [{extra}] extra" if extra else "the base dependencies"
                    problems.append(f"{rel}: {dist} needs {', '.join(sorted(lacking))}, missing from {where}")
                continue
            if optional and (dist in every_extra or module in OPTIONAL_WITHOUT_EXTRA):
                continue
            where = f"the [{extra}] extra" if extra else "the base dependencies"
            problems.append(f"{rel}: imports {module} (distribution {dist}), missing from {where}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_scanner_sees_lazy_guarded_and_importorskip_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "import os\nimport numpy as np\nfrom .x import y\n"
        "def f():\n    from PIL import Image\n"
        "try:\n    import cv2\nexcept ImportError:\n    cv2 = None\n"
        "import pytest\npytest.importorskip('selenium.webdriver')\n"
    )
    assert sorted(third_party_imports(src)) == [("PIL", False), ("cv2", True), ("numpy", False),
                                                ("pytest", False), ("selenium", False)]


def test_extras_resolve_through_self_references():
    dev = _declared("dev")
    assert {"torchvision", "tensorboard", "opencv-python-headless", "segment-anything"} <= dev
    assert _declared(None) < _declared("sam")
