"""Small files that decode to huge arrays, written without ever holding the huge array.

A PNG of zeros is a valid PNG whose IDAT stream is compressed row by row; an ``.npz`` holds a
``.npy`` member whose header and zero data are streamed into the zip. Both are real files every
reader can decode (at great cost): the tests check that ours refuse them from the header.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
import zipfile
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


PEAK_PROBE = """
import json, resource, sys
import {module} as m
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    m.{function}(*json.loads(sys.argv[1]))
    outcome = "returned"
except ValueError as exc:
    outcome = "ValueError: " + str(exc)
except BaseException as exc:
    outcome = type(exc).__name__ + ": " + str(exc)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"outcome": outcome, "base_mb": base / 1024, "peak_mb": peak / 1024}}))
"""


def peak_of_call(module: str, function: str, *args) -> dict:
    """Call ``module.function(*args)`` in a fresh interpreter: its outcome and its peak RSS in MB
    after importing ``module`` (``base_mb``) and after the call (``peak_mb``)."""
    r = subprocess.run([sys.executable, "-c", PEAK_PROBE.format(module=module, function=function),
                        json.dumps([str(a) for a in args])],
                       capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def peak_of_child(argv: list[str], cwd: Path) -> tuple[int, float, str, str]:
    """Run ``argv``: ``(exit status, peak RSS in MB of that process, stdout, stderr)``."""
    with open(cwd / ".out", "w+") as out, open(cwd / ".err", "w+") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=cwd,
                                env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, usage.ru_maxrss / 1024, out.read(), err.read()

