"""Small files that decode to huge arrays, written without ever holding the huge array.

A PNG of zeros is a valid PNG whose IDAT stream is compressed row by row; an ``.npz`` holds a
``.npy`` member whose header and zero data are streamed into the zip. Both are real files every
reader can decode (at great cost): the tests check that ours refuse them from the header.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_CHUNK = 1 << 22


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(path: Path, width: int, height: int, *, bit_depth: int = 8) -> Path:
    """A grey PNG of ``width x height`` zeros (``bit_depth`` 8 or 16)."""
    row = bytes(1 + width * bit_depth // 8)  # filter byte 0 + the zero samples
    comp = zlib.compressobj(9)
    parts = []
    rows_per_chunk = max(1, _CHUNK // len(row))
    block = row * rows_per_chunk
    done = 0
    while done < height:
        n = min(rows_per_chunk, height - done)
        parts.append(comp.compress(block if n == rows_per_chunk else row * n))
        done += n
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts))
                     + _png_chunk(b"IEND", b""))
    return path


def npz_bomb(path: Path, shape: tuple[int, ...], dtype=np.uint8) -> Path:
    """An ``.npz`` whose one member ``depth.npy`` is an array of zeros of ``shape``."""
    dtype = np.dtype(dtype)
    total = int(np.prod(shape)) * dtype.itemsize
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("depth.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": dtype.str, "fortran_order": False,
                                                     "shape": tuple(shape)})
            zeros = bytes(_CHUNK)
            while total > 0:
                f.write(zeros[: min(total, _CHUNK)])
                total -= _CHUNK
    return path


# The peak resident memory of the running program itself, in MB. ``ru_maxrss`` of a child also
# counts what it inherited from its parent at fork (a test runner holding torch: a GB or more), so
# on Linux the high-water mark of the process's own memory (``VmHWM``, reset by exec) is read instead.
PEAK_MB = """
def _peak_mb():
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        import resource, sys
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 1024 if sys.platform != "darwin" else rss / 2 ** 20
"""

PEAK_PROBE = PEAK_MB + """
import json, sys
import {module} as m
base = _peak_mb()
try:
    m.{function}(*json.loads(sys.argv[1]))
    outcome = "returned"
except ValueError as exc:
    outcome = "ValueError: " + str(exc)
except BaseException as exc:
    outcome = type(exc).__name__ + ": " + str(exc)
print(json.dumps({{"outcome": outcome, "base_mb": base, "peak_mb": _peak_mb()}}))
"""

# Runs ``python PEAK_RUNNER code CODE ARGS...`` or ``python PEAK_RUNNER module NAME ARGS...`` and
# writes the peak (MB) into the file named by $LEVITOR_PEAK_FILE at exit (also after SystemExit).
PEAK_RUNNER = PEAK_MB + """
import atexit, os, runpy, sys

def _report():
    with open(os.environ["LEVITOR_PEAK_FILE"], "w") as f:
        f.write(str(_peak_mb()))

atexit.register(_report)
kind, target, *rest = sys.argv[1:]
if kind == "code":
    sys.argv = ["-c", *rest]
    exec(compile(target, "<command>", "exec"), {"__name__": "__main__"})
else:
    sys.argv = [target, *rest]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""


def peak_of_call(module: str, function: str, *args) -> dict:
    """Call ``module.function(*args)`` in a fresh interpreter: its outcome and its peak memory in
    MB after importing ``module`` (``base_mb``) and after the call (``peak_mb``)."""
    r = subprocess.run([sys.executable, "-c", PEAK_PROBE.format(module=module, function=function),
                        json.dumps([str(a) for a in args])],
                       capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def peak_of_run(kind: str, target: str, args: list[str], cwd: Path, env: dict | None = None) -> tuple[int, float, str, str]:
    """Run ``python -m target args`` (``kind`` "module") or ``python -c target args`` ("code") in
    ``cwd``: ``(exit status, peak memory in MB of that program, stdout, stderr)``."""
    peak_file = cwd / ".peak_mb"
    peak_file.unlink(missing_ok=True)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd), **(env or {}),
           "LEVITOR_PEAK_FILE": str(peak_file)}
    r = subprocess.run([sys.executable, "-c", PEAK_RUNNER, kind, target, *args], capture_output=True, text=True,
                       cwd=cwd, env=env, timeout=600)
    return r.returncode, float(peak_file.read_text()), r.stdout, r.stderr
