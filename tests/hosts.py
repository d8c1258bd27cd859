"""The real ComfyUI hosts the integration tests run in, found through environment variables.

``COMFYUI_DIR`` / ``COMFYUI_PYTHON`` name the oldest supported host (a ComfyUI checkout and its
venv's python, with this project's requirements installed); ``COMFYUI_CURRENT_DIR`` /
``COMFYUI_CURRENT_PYTHON`` the newest one tested. Either pair may be missing: the tests
parametrised over ``HOSTS`` run on the hosts that are set and skip, with the reason, when none is.
``.ci/run`` builds both with ``../shared/tools/comfyui-host/setup.sh``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

#: (role, directory variable, python variable), oldest first
HOST_VARIABLES = (("minimum", "COMFYUI_DIR", "COMFYUI_PYTHON"),
                  ("current", "COMFYUI_CURRENT_DIR", "COMFYUI_CURRENT_PYTHON"))


@dataclass(frozen=True)
class Host:
    role: str  # "minimum" or "current"
    comfy_dir: str
    python: str

    @property
    def version(self) -> str:
        """ComfyUI's version as its checkout states it (``comfyui_version.py``), else "unknown"."""
        try:
            text = (Path(self.comfy_dir) / "comfyui_version.py").read_text()
        except OSError:
            return "unknown"
        m = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", text)
        return m.group(1) if m else "unknown"

    @property
    def id(self) -> str:
        return f"comfyui-{self.version}"


def find_hosts() -> list[Host]:
    out = []
    for role, dir_var, py_var in HOST_VARIABLES:
        d, py = os.environ.get(dir_var), os.environ.get(py_var)
        if d and py:
            out.append(Host(role, d, py))
    return out


HOSTS = find_hosts()
NO_HOST = ("set COMFYUI_DIR and COMFYUI_PYTHON (oldest supported ComfyUI) and/or COMFYUI_CURRENT_DIR and "
           "COMFYUI_CURRENT_PYTHON (newest) to run the real-host tests")


def host_params() -> list:
    """pytest parameters, one per host that is set (ids name the ComfyUI version)."""
    return [pytest.param(h, id=h.id) for h in HOSTS]


def has_tracks(host: Host) -> bool:
    """Whether the host's ComfyUI has core's TRACKS type (and so the Wan-Move nodes)."""
    return "class Tracks(" in (Path(host.comfy_dir) / "comfy_api" / "latest" / "_io.py").read_text()
