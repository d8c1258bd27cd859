"""Start-up cost of the command line: wall time, CPU time and peak RSS of whole ``levitor`` runs.

Each row is a fresh process (``python -m levitor ...`` on this checkout), timed from start to exit,
several times; ``import torch`` and ``import sklearn.cluster`` alone are the floor under any command
that plans. The refused-file row gives ``levitor plan`` three 13000x13000 PNGs of a few hundred KB
(refused from their headers)::

    python bench/cli.py              # 3 runs per row
    python bench/cli.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # file_bombs: the huge PNGs and the peak-memory runner


def run_once(kind: str, target: str, args: list[str], cwd: Path) -> tuple[int, float, float, float]:
    """``(exit status, wall s, CPU s, peak RSS MB)`` of one run of ``python -m target args``
    (``kind`` "module") or ``python -c target`` ("code"). The peak is the program's own (VmHWM,
    see tests/file_bombs.py): a child's ``ru_maxrss`` would include this process's memory."""
    from file_bombs import PEAK_RUNNER

    peak_file = cwd / ".peak_mb"
    env = dict(os.environ, PYTHONPATH=str(ROOT), LEVITOR_PEAK_FILE=str(peak_file))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", PEAK_RUNNER, kind, target, *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return os.waitstatus_to_exitcode(status), wall, usage.ru_utime + usage.ru_stime, float(peak_file.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per row (default 3)")
    args = parser.parse_args(argv)

    from file_bombs import png_bomb

    probe = "import torch; print(torch.__version__, torch.get_num_threads())"
    torch_info = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    load = os.getloadavg()
    print(f"python {platform.python_version()}, torch {torch_info[0]}, torch threads {torch_info[1]}, "
          f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    assets = ROOT / "levitor" / "assets" / "demo"  # the scene of `levitor demo`
    scene = {"image": str(assets / "image.png"), "depth": str(assets / "disparity8.png"), "depth_kind": "disparity8",
             "masks": [str(assets / "object_0.png")], "static": [str(assets / f"static_{i}.png") for i in range(3)],
             "tracks": str(assets / "tracks.json")}
    with tempfile.TemporaryDirectory(prefix="levitor_bench_cli_") as tmp:
        tmp = Path(tmp)
        big = png_bomb(tmp / "big.png", 13000, 13000)
        big16 = png_bomb(tmp / "big16.png", 13000, 13000, bit_depth=16)
        (tmp / "t.json").write_text('{"tracks": [[[10, 10, 0.5], [20, 20, 0.4]]]}')
        demo = ["--image", scene["image"], "--depth", scene["depth"], "--depth-kind", scene["depth_kind"],
                "--masks", *scene["masks"], "--static", *scene["static"], "--tracks", scene["tracks"]]
        rows = [
            ("python -c pass", "code", "pass", []),
            ("import torch", "code", "import torch", []),
            ("import sklearn.cluster", "code", "import sklearn.cluster", []),
            ("levitor --help", "module", "levitor", ["--help"]),
            ("levitor plan --help", "module", "levitor", ["plan", "--help"]),
            ("levitor generate --help", "module", "levitor", ["generate", "--help"]),
            ("levitor plan --fps 0", "module", "levitor", ["plan", "--fps", "0"]),
            ("levitor plan, 3 huge PNGs", "module", "levitor", [
                "plan", "--image", str(big), "--depth", str(big16), "--masks", str(big), "--tracks",
                str(tmp / "t.json"), "--out", str(tmp / "refused")]),
            ("levitor plan, demo scene", "module", "levitor", ["plan", *demo, "--out", str(tmp / "plan")]),
            ("levitor demo", "module", "levitor", ["demo", "--out", str(tmp / "demo")]),
        ]
        print(f"{'command':28s} {'exit':>4s} {'wall s (median, min-max)':>26s} {'CPU s':>7s} {'peak RSS MB':>12s}")
        for name, kind, target, cmd_args in rows:
            found = [run_once(kind, target, cmd_args, tmp) for _ in range(args.runs)]
            walls = [f[1] for f in found]
            codes = sorted({f[0] for f in found})
            print(f"{name:28s} {','.join(map(str, codes)):>4s} {statistics.median(walls):10.2f} "
                  f"({min(walls):5.2f}-{max(walls):5.2f}) {statistics.median(f[2] for f in found):11.2f} "
                  f"{max(f[3] for f in found):12.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
