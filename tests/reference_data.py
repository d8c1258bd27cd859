"""Where the outputs of the original implementation live (``../shared/fixtures/reference``).

The shared folder sits beside the repository (``../shared``); a checkout kept one level deeper
(a worktree folder beside the main checkout) finds it at ``../../shared``. ``LEVITOR_SHARED``
names the folder explicitly. Tests that need it skip, saying where they looked, when it is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = "LEVITOR_SHARED"


def shared_dir() -> Path | None:
    """The shared folder, or None when there is none."""
    if os.environ.get(ENV):
        path = Path(os.environ[ENV]).expanduser()
        return path if path.is_dir() else None
    for candidate in (ROOT.parent / "shared", ROOT.parent.parent / "shared"):
        if (candidate / "fixtures").is_dir():
            return candidate
    return None


def reference_path(*parts: str) -> Path:
    """``shared/fixtures/reference/<parts>``; skips the calling test when it is absent."""
    shared = shared_dir()
    path = None if shared is None else shared.joinpath("fixtures", "reference", *parts)
    if path is None or not path.exists():
        where = os.environ.get(ENV) or f"{ROOT.parent / 'shared'} or {ROOT.parent.parent / 'shared'}"
        pytest.skip(f"reference outputs of the original implementation not found ({'/'.join(parts)} under "
                    f"{where}/fixtures/reference); set {ENV} to the shared folder to run this test")
    return path


def load_case(*parts: str) -> tuple[dict, dict]:
    """The tensors (``.safetensors``) and metadata (``.json``) of a reference case, by stem."""
    from safetensors.torch import load_file

    stem = reference_path(*parts[:-1], parts[-1] + ".json").with_suffix("")
    tensors = load_file(str(stem.with_suffix(".safetensors")))
    meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    return tensors, meta
