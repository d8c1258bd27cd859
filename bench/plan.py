"""Time and memory of the planning stage (image + depth + masks + tracks -> control maps).

Prints the versions and thread counts, then a family table: every row is one whole plan
(``build_plan``: scene, render, control maps) run in a fresh process, with the median and the
largest wall time over the repeats, the CPU time of the median run and the process's peak RSS
(with the RSS of the imports alone). The rows:

  * ``demo``: the reference setting, 16 frames at 512x288 (HxW), 2 moving balls, 20 segments
  * ``<shape>-><depth>``: one object on the far plane (depth 1.0) moved nearer to 0.9, 0.5, 0.2
    or 0.1 over the frames; shapes: ``whole`` (every pixel of the image), ``box`` (100x100),
    ``thin`` (3x200), ``disc`` (radius 40)
  * ``many8`` / ``many16``: 8 or 16 small far objects crossing the image to nearer depths
  * ``long-track``: one object along a track of 4096 clicked points swinging between depths
    1.0 and 0.1
  * ``large-*``: 25 frames at 576x1024: the demo, the whole image to 0.5, a box to 0.2

then the same table again beside a CPU-bound neighbour (a busy-loop process this script starts
and stops). Bounds (issue 18): 512x288x16 plans within 2 s wall and 1 GiB peak RSS,
576x1024x25 plans within 5 s; a row passes when its median wall time and its peak RSS are within
them. "cpu within" says whether its CPU time alone is within the wall bound, which tells a slow
row from a busy machine (the load average is printed above each table).

    python bench/plan.py [--repeats 3] [--device cpu] [--rows demo,box->0.5] [--no-neighbour]
    python bench/plan.py --worst D   # one object covering the image moved from depth 1.0 to D (JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
from measure import peak_rss_mib

SMALL = (512, 288, 16)  # height, width, frames
LARGE = (576, 1024, 25)
BOUNDS = {SMALL: (2.0, 1024.0), LARGE: (5.0, 1024.0 * 4)}  # seconds wall, MiB peak RSS
DEPTHS = (0.9, 0.5, 0.2, 0.1)
SHAPES = ("whole", "box", "thin", "disc")
NEIGHBOUR_LIMIT_S = 1800  # the busy loop ends itself after this even if never stopped


def _shape(name: str, height: int, width: int) -> np.ndarray:
    rr, cc = np.mgrid[:height, :width]
    cy, cx = height // 2, width // 2
    if name == "whole":
        return np.ones((height, width), bool)
    if name == "box":
        return (abs(rr - cy) < 50) & (abs(cc - cx) < 50)
    if name == "thin":
        return (abs(rr - cy) < 100) & (abs(cc - cx) <= 1)
    if name == "disc":
        return (rr - cy) ** 2 + (cc - cx) ** 2 <= 40 ** 2
    raise ValueError(name)


def row_names() -> list[str]:
    names = ["demo"] + [f"{s}->{d}" for s in SHAPES for d in DEPTHS]
    return names + ["many8", "many16", "long-track", "large-demo", "large-whole->0.5", "large-box->0.2"]


def make_row(name: str):
    """``(size, args)`` for :func:`build_plan`: image, depth, object masks, static masks, tracks."""
    from levitor.assets.demo_scene import make_demo_scene

    size = LARGE if name.startswith("large-") else SMALL
    height, width, _ = size
    base = name.removeprefix("large-")
    if base == "demo":
        s = make_demo_scene(width, height, n_balls=2, n_static=20)
        return size, (s.image, s.depth, s.object_masks, s.static_masks, s.tracks)
    image = np.zeros((height, width, 3), np.uint8)
    depth = np.ones((height, width))  # the far plane
    cx, cy = width / 2, height / 2
    if "->" in base:
        shape, end = base.split("->")
        mask = _shape(shape, height, width)
        return size, (image, depth, [mask], [], [[(cx, cy, 1.0), (cx + 0.1 * width, cy - 0.1 * height, float(end))]])
    if base.startswith("many"):
        n = int(base[4:])
        rng = np.random.default_rng(n)
        masks, tracks = [], []
        rr, cc = np.mgrid[:height, :width]
        for _ in range(n):
            y, x = rng.uniform(0.1, 0.9) * height, rng.uniform(0.1, 0.9) * width
            masks.append((rr - y) ** 2 + (cc - x) ** 2 <= 12 ** 2)
            tracks.append([(x, y, 1.0), (width - x, height - y, float(rng.choice(DEPTHS)))])
        return size, (image, depth, masks, [], tracks)
    if base == "long-track":
        t = np.linspace(0, 1, 4096)
        track = [(cx + 0.3 * width * np.sin(12 * np.pi * u), cy + 0.3 * height * np.cos(7 * np.pi * u),
                  0.55 + 0.45 * np.cos(9 * np.pi * u)) for u in t]
        return size, (image, depth, [_shape("box", height, width)], [], [track])
    raise ValueError(f"unknown row {name!r}; rows: {', '.join(row_names())}")




def run_row(name: str, repeats: int, device: str) -> dict:
    """One row in this (fresh) process: imports, one tiny warm-up plan, then ``repeats`` timed plans."""
    import torch  # noqa: F401  (imported before the RSS baseline)

    from levitor.planning.plan import build_plan

    size, args = make_row(name)
    frames = size[2]
    tiny = np.zeros((16, 16), bool)
    tiny[4:8, 4:8] = True
    build_plan(np.zeros((16, 16, 3), np.uint8), np.full((16, 16), 0.5), [tiny], [], [[(6, 6, 0.5)]], num_frames=2,
               device=device)
    rss_imports = peak_rss_mib()
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        plan = build_plan(*args, num_frames=frames, device=device)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    mid = sorted(range(repeats), key=walls.__getitem__)[repeats // 2]
    return {"row": name, "size": list(size), "wall_s": walls[mid], "max_wall_s": max(walls), "cpu_s": cpus[mid],
            "peak_rss_mib": peak_rss_mib(), "imports_rss_mib": rss_imports,
            "last_frame_area": int((plan.labels[-1] == 1).sum())}


def worst_case(end_depth: float, repeats: int, device: str) -> dict:
    """One object covering the whole 288x512 image at depth 1.0, moved to ``end_depth`` (kept for
    comparisons with earlier measurements)."""
    from levitor.planning.plan import build_plan

    rss_imports = peak_rss_mib()
    height, width = 512, 288
    image = np.zeros((height, width, 3), np.uint8)
    depth = np.ones((height, width))
    mask = np.ones((height, width), bool)
    track = [[(width / 2, height / 2, 1.0), (width / 2, height / 2, end_depth)]]
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        plan = build_plan(image, depth, [mask], [], track, num_frames=16, device=device)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"end_depth": end_depth, "median_s": statistics.median(times), "max_s": max(times),
            "cpu_s": statistics.median(cpu), "peak_rss_mib": peak_rss_mib(),
            "imports_rss_mib": rss_imports, "last_frame_area": int((plan.labels[-1] == 1).sum())}


def _subprocess_row(name: str, repeats: int, device: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--row", name, "--repeats", str(repeats), "--device", device],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"row": name, "error": (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def table(rows: list[str], repeats: int, device: str, title: str) -> bool:
    print(f"\n{title} (load average {_load()})")
    print(f"{'row':18s} {'HxWxF':>12s} {'wall s':>7s} {'max s':>7s} {'cpu s':>7s} {'peak MiB':>9s} "
          f"{'imports':>8s}  result")
    ok = True
    for name in rows:
        r = _subprocess_row(name, repeats, device)
        if "error" in r:
            print(f"{name:18s} ERROR {r['error']}")
            ok = False
            continue
        size = tuple(r["size"])
        wall_max, rss_max = BOUNDS[size]
        passed = r["wall_s"] <= wall_max and r["peak_rss_mib"] <= rss_max
        ok &= passed
        print(f"{name:18s} {'x'.join(map(str, size)):>12s} {r['wall_s']:7.2f} {r['max_wall_s']:7.2f} "
              f"{r['cpu_s']:7.2f} {r['peak_rss_mib']:9.0f} {r['imports_rss_mib']:8.0f}  "
              f"{'PASS' if passed else 'FAIL'} (<= {wall_max:.0f} s, <= {rss_max:.0f} MiB)"
              f"{', cpu within' if r['cpu_s'] <= wall_max else ', CPU OVER'}", flush=True)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rows", default=None, help="comma-separated row names (default: all)")
    parser.add_argument("--no-neighbour", action="store_true", help="skip the table beside a busy process")
    parser.add_argument("--worst", type=float, default=None, help=argparse.SUPPRESS)  # one worst case, as JSON
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)  # one row in this process, as JSON
    args = parser.parse_args()
    if args.worst is not None:
        print(json.dumps(worst_case(args.worst, args.repeats, args.device)))
        return
    if args.row is not None:
        print(json.dumps(run_row(args.row, args.repeats, args.device)))
        return
    import torch

    rows = args.rows.split(",") if args.rows else row_names()
    unknown = [name for name in rows if name not in row_names()]
    if unknown:
        parser.error(f"unknown rows {unknown}; rows: {', '.join(row_names())}")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"torch {torch.__version__}, numpy {np.__version__}, torch threads {torch.get_num_threads()}, "
          f"interop threads {torch.get_num_interop_threads()}, CPUs {os.cpu_count()} ({affinity} usable), "
          f"device {args.device}, {args.repeats} runs a row, python {sys.version.split()[0]}")
    ok = table(rows, args.repeats, args.device, "alone")
    if not args.no_neighbour:
        busy = f"import time\nend = time.monotonic() + {NEIGHBOUR_LIMIT_S}\nwhile time.monotonic() < end:\n    pass\n"
        neighbour = subprocess.Popen([sys.executable, "-c", busy])
        try:
            ok &= table(rows, args.repeats, args.device, f"beside a CPU-bound neighbour (pid {neighbour.pid})")
        finally:
            neighbour.kill()
            neighbour.wait()
    print(f"\n{'ALL PASS' if ok else 'SOME FAIL'}")


if __name__ == "__main__":
    main()
