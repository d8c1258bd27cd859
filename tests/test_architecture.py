"""The import graph of the core library, read from the source with ``ast``.

* no import cycle among ``levitor`` modules (imports inside functions count: a cycle hidden in a
  function is still a cycle);
* ``levitor`` never imports the ComfyUI node pack or ComfyUI itself;
* no function-local import of a ``levitor`` module outside ``levitor/cli/`` (the CLI loads its
  heavy commands lazily so that ``levitor --help`` and input errors come back fast). Heavy
  optional third-party packages may still be imported inside functions.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "levitor"
HOST_MODULES = {"nodes", "comfy", "comfy_extras", "comfy_api", "folder_paths", "server", "execution",
                "node_helpers", "latent_preview"}

# Files whose function-local levitor imports are still to be hoisted by the parts they belong to.
# Empty this list once they are; the test then holds for every file.
LOCAL_IMPORTS_PENDING = {
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for every import in ``path``; ``from m
    import x`` also yields ``m.x`` (the submodule, when ``x`` is one)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                out.append((target, child.lineno, in_function))
                out.extend((f"{target}.{a.name}", child.lineno, in_function) for a in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return out


def _library() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(LIB.rglob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    """Module -> the library modules it imports (a pending file's function-local imports left out)."""
    mods = _library()
    graph = {}
    for name, path in mods.items():
        pending = path.relative_to(ROOT).as_posix() in LOCAL_IMPORTS_PENDING
        graph[name] = {target for target, _, local in imports(path)
                       if target in mods and target != name and not (local and pending)}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"b"}}) == ["b", "b"]


def test_imports_are_read_with_their_place(tmp_path, monkeypatch):
    pkg = tmp_path / "levitor" / "sub"
    pkg.mkdir(parents=True)
    src = pkg / "mod.py"
    src.write_text("from . import other\nfrom ..top import x\n"
                   "def f():\n    from .other import y\n    import nodes\n"
                   "if TYPE_CHECKING:\n    from .hidden import z\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = imports(src)
    assert ("levitor.sub.other", 1, False) in found and ("levitor.top", 2, False) in found
    assert ("levitor.sub.other", 4, True) in found and ("nodes", 5, True) in found
    assert not [t for t, _, _ in found if "hidden" in t]


def test_no_import_cycle_in_the_library():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_library_never_imports_comfyui_or_the_node_pack():
    bad = [f"{path.relative_to(ROOT)}:{line} imports {target}"
           for path in _library().values() for target, line, _ in imports(path)
           if target.split(".")[0] in HOST_MODULES]
    assert not bad, "\n".join(bad)


def local_library_imports(path: Path, library: dict[str, Path]) -> list[str]:
    rel = path.relative_to(ROOT).as_posix()
    return [f"{rel}:{line} imports {target} inside a function; import it at the top"
            for target, line, local in imports(path) if local and target in library]


def test_no_function_local_import_of_a_library_module():
    library = _library()
    bad = []
    for path in library.values():
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith("levitor/cli/") and rel not in LOCAL_IMPORTS_PENDING:
            bad.extend(local_library_imports(path, library))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("rel", sorted(LOCAL_IMPORTS_PENDING))
def test_pending_files_still_need_their_exception(rel):
    assert local_library_imports(ROOT / rel, _library()), f"{rel} is hoisted: remove it from LOCAL_IMPORTS_PENDING"


# The planning steps below the stages; front ends call levitor.planning.stages / .plan instead.
STAGE_INTERNALS = {"levitor.planning.render", "levitor.planning.keypoints", "levitor.planning.control"}
REEXPORTS = {"levitor/control.py"}  # the older public path of draw_control_maps


def test_front_ends_reach_planning_only_through_the_stages():
    files = [p for p in sorted(ROOT.glob("nodes/*.py")) + sorted(ROOT.glob("train/*.py")) + sorted(LIB.rglob("*.py"))
             if not p.relative_to(ROOT).as_posix().startswith("levitor/planning/")]
    bad = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        for target, line, _ in imports(path):
            if rel not in REEXPORTS and any(target == m or target.startswith(m + ".") for m in STAGE_INTERNALS):
                bad.append(f"{rel}:{line} imports {target}; call levitor.planning.stages instead")
    assert not bad, "\n".join(bad)
