"""Time and memory of the planning stage (image + depth + masks + tracks -> control maps).

Prints the median wall time over repeats and the peak memory for:
  * 16 frames at 512×288 (H×W) with 2 moving objects and 20 static segments (the reference setting)
  * 25 frames at 576×1024 with the same scene layout
  * the worst case at 512×288×16: the largest object a plan allows (every pixel) at the far plane
    (depth 1.0), moved nearer to depth 0.9, 0.5 and 0.1 over the 16 frames; each in a fresh
    process, with its peak RSS and the RSS the imports alone take

    python bench/plan.py [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import torch

from levitor.assets.demo_scene import make_demo_scene
from levitor.planning.plan import build_plan


def run_case(name: str, width: int, height: int, frames: int, repeats: int, device: str) -> None:
    scene = make_demo_scene(width, height, n_balls=2, n_static=20)
    args = (scene.image, scene.depth, scene.object_masks, scene.static_masks, scene.tracks)
    build_plan(*args, num_frames=frames, device=device)  # warm-up: imports, template, caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        plan = build_plan(*args, num_frames=frames, device=device)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    build_plan(*args, num_frames=frames, device=device)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_labels = len(set(plan.scene.labels.ravel().tolist()) - {0})
    n_points = sum(len(k) for k in plan.keypoints)
    print(f"{name}: {frames} frames at {height}x{width}, {len(scene.object_masks)} moving objects, "
          f"{n_labels} labelled regions, {n_points} control points")
    print(f"  median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f}, "
          f"{repeats} runs)   peak traced memory {peak / 2**20:.0f} MiB")


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: starts afresh in a new program, unlike ru_maxrss)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 2**20)


def worst_case(end_depth: float, repeats: int, device: str) -> dict:
    """One object covering the whole 288×512 image at depth 1.0, moved to ``end_depth``."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--worst", type=float, default=None, help=argparse.SUPPRESS)  # one worst case, as JSON
    args = parser.parse_args()
    if args.worst is not None:
        print(json.dumps(worst_case(args.worst, args.repeats, args.device)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    run_case("reference setting", 288, 512, 16, args.repeats, args.device)
    run_case("large", 1024, 576, 25, max(1, args.repeats // 2), args.device)
    print(f"process peak RSS {peak_rss_mib():.0f} MiB")
    for end in (0.9, 0.5, 0.1):
        out = subprocess.run([sys.executable, __file__, "--worst", str(end), "--repeats", str(max(1, args.repeats // 2)),
                              "--device", args.device], check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"worst case: 16 frames at 512x288, one object covering the image moved from depth 1.0 to {end}: "
              f"median {r['median_s']:.2f} s (max {r['max_s']:.2f}, cpu {r['cpu_s']:.2f} s)   peak RSS "
              f"{r['peak_rss_mib']:.0f} MiB ({r['peak_rss_mib'] - r['imports_rss_mib']:.0f} MiB above the imports)")


if __name__ == "__main__":
    main()
