"""Every string the ComfyUI frontend shows for the pack is a message its formatter takes as plain text.

The frontend (1.42) compiles every locale string (display names, descriptions, input and output
names and tooltips) as a vue-i18n message: a literal ``{`` or ``}`` is a placeholder, ``@`` a
linked message, ``|`` separates plural forms (the text after it is dropped), ``%{`` is a
placeholder too. A string that breaks these throws, and the Vue renderer then shows "Node Render
Error" for the node. ICU MessageFormat (the other formatter the project's texts must survive) adds
that ``''`` is one apostrophe. So the rule is: a shown string formats to itself, and the test says
which string broke which rule.

``check_message`` implements the rules here; where a host's frontend is installed (and ``node``),
the frontend's own formatter formats every string and must give it back unchanged, and it must
agree with ``check_message`` on strings made to break each rule. The node help pages
(``web/docs/*.md``) are Markdown, rendered but not formatted: outside code they hold no braces
either.
"""

from __future__ import annotations

import glob
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hosts import HOSTS

REPO = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
FORMATTER = Path(__file__).resolve().parent / "frontend_i18n.mjs"

#: (rule name, pattern): each finds where a string stops being plain text for the formatter
RULES = (
    ("a literal '{' or '}' is placeholder syntax (write words instead)", re.compile(r"[{}]")),
    ("'@' starts a linked message (write 'at' or leave it out)", re.compile(r"@")),
    ("'|' separates plural forms: the text after it is not shown", re.compile(r"\|")),
    ("'%{' starts a placeholder", re.compile(r"%\{")),
    ("'' is one apostrophe in ICU MessageFormat", re.compile(r"''")),
)
DOC_RULES = RULES[:1]


def check_message(text: str, rules=RULES) -> list[str]:
    """The rules `text` breaks, each with where (``char N``)."""
    return [f"{name} (char {m.start()})" for name, rx in rules for m in [rx.search(text)] if m]


def locale_strings() -> list[tuple[str, str]]:
    """(where, text) of every string in locales/*/*.json."""
    out = []

    def walk(where, v):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{where}.{k}", x)
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(f"{where}[{i}]", x)
        elif isinstance(v, str):
            out.append((where, v))

    for path in sorted((REPO / "locales").glob("*/*.json")):
        walk(str(path.relative_to(REPO)), json.loads(path.read_text()))
    return out


def doc_prose(markdown: str) -> list[tuple[int, str]]:
    """(line number, text) of a Markdown page outside fenced blocks and inline code spans."""
    out, fenced = [], False
    for i, line in enumerate(markdown.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out.append((i, re.sub(r"`[^`]*`", "", line)))
    return out


def test_locale_strings_are_plain_messages():
    strings = locale_strings()
    assert len(strings) > 100, "the locales hold every node's texts"
    bad = [f"{where}: {rule}: {text!r}" for where, text in strings for rule in check_message(text)]
    assert bad == [], "\n".join(bad)


def test_help_pages_hold_no_braces_outside_code():
    pages = sorted((REPO / "web" / "docs").glob("*.md"))
    assert pages
    bad = [f"{p.relative_to(REPO)}:{n}: {rule}: {text.strip()!r}"
           for p in pages for n, text in doc_prose(p.read_text()) for rule in check_message(text, DOC_RULES)]
    assert bad == [], "\n".join(bad)


#: strings made to break each rule (the tooltips that once broke nodes among them) and ones that don't
BREAKING = ["depth_anything_v2_vit{s,b,l}.pth", 'JSON: {"tracks": [...]}', "mail me@example.com",
            "one | two", "100%{x}", "see @:key"]
PLAIN = ["Depth of the selected point (reference units, smaller = nearer).", "it's [x, y, depth] 100% # 1",
         "a: b; c/d - e_f (g) \"h\" <i> $j ~k ^l & m * n + o = p ?q !r"]


def _frontend_assets(host) -> Path | None:
    proc = subprocess.run([host.python, "-c", "import comfyui_frontend_package as p, os; print(os.path.dirname(p.__file__))"],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return None
    assets = Path(proc.stdout.strip()) / "static" / "assets"
    return assets if glob.glob(str(assets / "vendor-i18n-*.js")) else None


def _format(assets: Path, texts: list[str], tmp_path) -> list[dict]:
    src = tmp_path / "messages.json"
    src.write_text(json.dumps(texts))
    proc = subprocess.run([NODE, str(FORMATTER), str(assets), str(src)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == len(texts)
    return rows


@pytest.mark.comfyui
@pytest.mark.skipif(NODE is None, reason="needs node to run the frontend's formatter")
@pytest.mark.parametrize("host", [pytest.param(h, id=h.id) for h in HOSTS] or
                         [pytest.param(None, marks=pytest.mark.skip(reason="no ComfyUI host set (COMFYUI_*_DIR)"))])
def test_the_frontends_formatter_shows_every_locale_string_as_written(host, tmp_path):
    assets = _frontend_assets(host)
    if assets is None:
        pytest.skip(f"ComfyUI {host.version}: its frontend ships no separate vue-i18n chunk to run")
    strings = locale_strings()
    rows = _format(assets, [t for _, t in strings] + BREAKING + PLAIN, tmp_path)
    got = rows[:len(strings)]
    bad = [f"{where}: {r.get('error') or 'shown as ' + repr(r.get('out'))}: {text!r}"
           for (where, text), r in zip(strings, got) if r.get("out") != text or r["warnings"]]
    assert bad == [], "\n".join(bad)
    # The rules here and the frontend agree: each breaking string fails both, the plain ones neither.
    for text, r in zip(BREAKING + PLAIN, rows[len(strings):]):
        assert (r.get("out") == text) == (check_message(text) == []), (text, r)
