"""The published pack: the files ``.comfyignore`` leaves, a security lint over them, an archive.

``python tools/publish.py lint [REPO]`` fail (exit 1) on what the registry's scanner flags
``python tools/publish.py list``        print the files that would be published
``python tools/publish.py build OUT``   write the pack as ``OUT`` (a .zip) and print its size

The files are those git tracks (as the registry's packer takes them) minus the ``.comfyignore``
patterns (gitignore syntax: ``dir/``, ``*.ext``, ``name``, ``a/b``). The lint flags, in every
published Python file: ``eval``/``exec``/``compile`` calls, ``os.system``/``os.popen`` and any
``subprocess`` call with ``shell=True``, installing packages at run time (``pip install`` in a
string or a command, ``pip.main``, ``ensurepip``), and network calls in module-level code (run at
import: ``urllib``/``requests``/``http.client``/``socket`` connections, hub downloads); in every
published JavaScript file: ``eval(`` and ``new Function(``. Text that only tells the user what to
install (an error message) is not a finding.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# which files


def read_patterns(repo: Path) -> list[str]:
    path = repo / ".comfyignore"
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def ignored(rel: str, patterns: list[str]) -> bool:
    """Whether the repository path ``rel`` (``/`` separated) matches a gitignore-style pattern."""
    parts = rel.split("/")
    for pattern in patterns:
        directory = pattern.endswith("/")
        pat = pattern.strip("/")
        if "/" in pat:  # anchored at the root
            if directory and (rel + "/").startswith(pat + "/") or fnmatch.fnmatchcase(rel, pat):
                return True
            continue
        candidates = parts[:-1] if directory else parts
        if any(fnmatch.fnmatchcase(p, pat) for p in candidates):
            return True
    return False


def tracked_files(repo: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], check=True, capture_output=True).stdout
    return sorted({p for p in out.decode().split("\0") if p and (repo / p).is_file()})


def published_files(repo: Path = REPO, files: list[str] | None = None) -> list[str]:
    """Repository paths of the published pack (``files`` defaults to what git tracks)."""
    patterns = read_patterns(repo)
    return [f for f in (tracked_files(repo) if files is None else files) if not ignored(f, patterns)]


# ---------------------------------------------------------------------------------------------
# the lint


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


NETWORK_CALLS = {
    "urllib.request.urlopen", "urllib.request.urlretrieve", "urlopen", "urlretrieve",
    "requests.get", "requests.post", "requests.put", "requests.head", "requests.request", "requests.Session",
    "httpx.get", "httpx.post", "httpx.Client", "aiohttp.ClientSession",
    "http.client.HTTPConnection", "http.client.HTTPSConnection", "socket.create_connection", "socket.socket",
    "hf_hub_download", "huggingface_hub.hf_hub_download", "snapshot_download", "huggingface_hub.snapshot_download",
    "torch.hub.load", "torch.hub.download_url_to_file", "wget.download",
}
PIP_COMMAND = re.compile(r"\bpip3?\b.*\binstall\b", re.IGNORECASE)  # a command, not a hint in a message


def _name(node: ast.AST) -> str:
    """``a.b.c`` for a name or attribute chain, else ''."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def _words(node: ast.AST) -> str:
    """The literal text of a call's command argument (a string or a list of strings)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return " ".join(_words(e) for e in node.elts)
    if isinstance(node, ast.JoinedStr):
        return " ".join(_words(v) for v in node.values)
    return ""


class _Visitor(ast.NodeVisitor):
    def __init__(self, path: str):
        self.path = path
        self.findings: list[Finding] = []
        self.depth = 0  # inside a function (code that does not run at import)

    def flag(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.path, getattr(node, "lineno", 0), what))

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef
    visit_Lambda = visit_FunctionDef

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name.split(".")[0] in ("pip", "ensurepip"):
                self.flag(node, f"imports {alias.name} (installing packages at run time)")
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        if (node.module or "").split(".")[0] in ("pip", "ensurepip"):
            self.flag(node, f"imports from {node.module} (installing packages at run time)")
        self.generic_visit(node)

    def visit_Call(self, node):
        name = _name(node.func)
        last = name.rsplit(".", 1)[-1]
        if name in ("eval", "exec", "compile", "builtins.eval", "builtins.exec"):
            self.flag(node, f"calls {name}()")
        if name in ("os.system", "os.popen", "os.execl", "os.execlp", "os.execv", "os.execvp", "os.spawnl"):
            self.flag(node, f"calls {name}() (a shell command)")
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                self.flag(node, f"calls {name or 'a function'}() with shell={ast.unparse(kw.value)}")
        if name.startswith("subprocess.") or last in ("check_call", "check_output", "Popen", "run", "call"):
            command = " ".join(_words(a) for a in node.args[:1])
            if PIP_COMMAND.search(command):
                self.flag(node, "runs pip install (installing packages at run time)")
        if name in ("pip.main", "pip._internal.main", "ensurepip.bootstrap"):
            self.flag(node, f"calls {name}() (installing packages at run time)")
        if self.depth == 0 and (name in NETWORK_CALLS or last in ("urlopen", "urlretrieve", "hf_hub_download",
                                                                      "snapshot_download")):
            self.flag(node, f"calls {name}() at import time (a network call)")
        self.generic_visit(node)


def lint_python(path: str, text: str) -> list[Finding]:
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return [Finding(path, exc.lineno or 0, f"does not parse: {exc.msg}")]
    visitor = _Visitor(path)
    visitor.visit(tree)
    return visitor.findings


JS_RULES = ((re.compile(r"(?<![\w.$])eval\s*\("), "calls eval()"),
            (re.compile(r"\bnew\s+Function\s*\("), "builds code with new Function()"))


def lint_javascript(path: str, text: str) -> list[Finding]:
    findings = []
    for lineno, line in enumerate(text.splitlines(), 1):
        code = line.split("//", 1)[0]
        for rule, what in JS_RULES:
            if rule.search(code):
                findings.append(Finding(path, lineno, what))
    return findings


def lint(repo: Path = REPO, files: list[str] | None = None) -> list[Finding]:
    """Every finding in the published files of ``repo``."""
    findings: list[Finding] = []
    for rel in published_files(repo, files):
        if rel.endswith(".py"):
            findings += lint_python(rel, (repo / rel).read_text(encoding="utf-8", errors="replace"))
        elif rel.endswith((".js", ".mjs")):
            findings += lint_javascript(rel, (repo / rel).read_text(encoding="utf-8", errors="replace"))
    return findings


# ---------------------------------------------------------------------------------------------
# the archive


def build(out: Path, repo: Path = REPO) -> int:
    """Write the published files into the zip ``out``; return its size in bytes."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in published_files(repo):
            zf.write(repo / rel, rel)
    return out.stat().st_size


def main(argv: list[str]) -> int:
    if argv[:1] == ["lint"] and len(argv) <= 2:
        repo = Path(argv[1]) if len(argv) == 2 else REPO
        findings = lint(repo)
        for f in findings:
            print(f)
        print(f"{len(findings)} finding(s) in {len(published_files(repo))} published files")
        return 1 if findings else 0
    if argv[:1] == ["list"]:
        print("\n".join(published_files()))
        return 0
    if argv[:1] == ["build"] and len(argv) == 2:
        size = build(Path(argv[1]))
        print(f"{argv[1]}: {len(published_files())} files, {size} bytes")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
