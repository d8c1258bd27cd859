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

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "levitor"
HOST_MODULES = {"nodes", "comfy", "comfy_extras", "comfy_api", "folder_paths", "server", "execution",
                "node_helpers", "latent_preview"}

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
        graph[name] = {target for target, _, _local in imports(path) if target in mods and target != name}
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
        if not rel.startswith("levitor/cli/"):
            bad.extend(local_library_imports(path, library))
    assert not bad, "\n".join(bad)


# The planning steps below the stages; front ends call levitor.planning.stages / .plan instead.
STAGE_INTERNALS = {"levitor.planning.render", "levitor.planning.keypoints", "levitor.planning.control"}
REEXPORTS: set = set()  # modules allowed to re-export stage internals (none)


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


def _is_reexport_only(tree: ast.Module) -> bool:
    """A module whose statements are only a docstring, imports and ``__all__``."""
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            continue
        return False
    return any(isinstance(node, ast.ImportFrom) for node in tree.body)


def test_the_reexport_finder_finds_shims():
    assert _is_reexport_only(ast.parse('"""Old path."""\nfrom .a import b\n__all__ = ["b"]\n'))
    assert not _is_reexport_only(ast.parse("from .a import b\n\ndef f():\n    return b\n"))
    assert not _is_reexport_only(ast.parse('"""Only a docstring."""\n'))


def test_no_module_only_re_exports():
    shims = []
    for path in sorted((ROOT / "levitor").rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) < 30 and _is_reexport_only(ast.parse(text)):
            shims.append(path.relative_to(ROOT).as_posix())
    assert not shims, f"modules that only re-export (import from the defining module instead): {shims}"


def test_the_public_api_resolves_lazily():
    import subprocess
    import sys

    code = ("import sys, levitor\n"
            "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'sklearn') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "missing = [n for n in levitor.__all__ if n != '__version__' and not hasattr(levitor, n)]\n"
            "assert not missing, missing\n"
            "import levitor.planning.plan as p\n"
            "assert levitor.build_plan is p.build_plan\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
