"""Time and memory of the planning stage (image + depth + masks + tracks -> control maps).

Prints the median wall time over repeats and the peak memory (traced Python/NumPy allocations
plus the process's peak RSS) for:
  * 16 frames at 512×288 (H×W) with 2 moving objects and 20 static segments (the reference setting)
  * 25 frames at 576×1024 with the same scene layout

    python bench/plan.py [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc

import torch

from levitor.demo_scene import make_demo_scene
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    run_case("reference setting", 288, 512, 16, args.repeats, args.device)
    run_case("large", 1024, 576, 25, max(1, args.repeats // 2), args.device)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
