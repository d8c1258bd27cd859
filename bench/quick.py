"""Time of the quick CPU path: ``levitor generate --demo --quick`` on tiny random models.

Runs the command in a fresh interpreter (so imports count) and prints its wall time and CPU time,
with the tiny models written first (timed separately)::

    python bench/quick.py [--threads 2] [--repeats 1]

The target is under 30 s of wall time on 2 CPU cores for the generate command.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="OMP/torch threads (default 2)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "tiny"
        wall, cpu = timed([sys.executable, "-m", "levitor.generation.tiny", str(tiny)], env)
        print(f"tiny models written: {wall:.1f} s wall, {cpu:.1f} s CPU")
        cmd = [sys.executable, "-m", "levitor", "generate", "--demo", "--quick", "--svd", str(tiny / "svd"),
               "--controlnet", str(tiny / "controlnet"), "--out", str(Path(tmp) / "demo.mp4")]
        for _ in range(args.repeats):
            wall, cpu = timed(cmd, env)
            print(f"levitor generate --demo --quick (OMP_NUM_THREADS={args.threads}; --quick runs torch on one "
                  f"thread): {wall:.1f} s wall, {cpu:.1f} s CPU")
        print(f"load average now: {os.getloadavg()[0]:.1f} (other work on the machine slows the wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
