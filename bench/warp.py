"""Time and memory of the warped video (image + depth + masks + tracks -> warped frames and mask).

Prints, for the demo scene (2 moving balls, 20 static segments):
  * 16 frames at 512×288 (H×W) and 25 frames at 576×1024: ``levitor.warped_video`` (render and
    warp) and the warp alone on a finished render, median wall and CPU time over repeats;
  * one frame as the editor's live preview makes it at 512×288 (the scene lifted and prepared
    once; the render of that frame and its warp per request), median over every frame;
  * the peak RSS of the process.

    python bench/warp.py [--repeats 3] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from measure import peak_rss_mib

from levitor.assets.demo_scene import make_demo_scene
from levitor.planning.options import PlanOptions
from levitor.planning.stages import build_scene, lift_scene, render_stage
from levitor.planning.warp import warp_render, warp_source, warped_video


def timed(fn, repeats: int) -> tuple[float, float, float, float]:
    """``(median wall, min wall, max wall, median CPU)`` seconds of ``fn()`` over ``repeats`` runs."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), min(wall), max(wall), statistics.median(cpu)


def run_case(width: int, height: int, frames: int, repeats: int, device: str) -> None:
    s = make_demo_scene(width, height, n_balls=2, n_static=20)
    args = (s.image, s.depth, s.object_masks, s.static_masks, s.tracks)
    warped_video(*args, num_frames=frames, device=device)  # warm-up
    whole = timed(lambda: warped_video(*args, num_frames=frames, device=device), repeats)
    opts = PlanOptions(num_frames=frames)
    scene = build_scene(s.image, s.depth, s.object_masks, s.static_masks, opts)
    render = render_stage(scene, s.tracks, opts, device=device)
    warp = timed(lambda: warp_render(render, device=device), repeats)
    out = warp_render(render, device=device)
    print(f"{frames} frames at {height}x{width} (HxW), {len(s.object_masks)} moving objects, "
          f"{int(out.mask.sum())} masked frame pixels")
    print(f"  warped_video (render + warp): median {whole[0]:.3f} s (min {whole[1]:.3f}, max {whole[2]:.3f}), "
          f"cpu {whole[3]:.3f} s, {repeats} runs")
    print(f"  warp of a finished render:    median {warp[0]:.3f} s (min {warp[1]:.3f}, max {warp[2]:.3f}), "
          f"cpu {warp[3]:.3f} s = {1000 * warp[0] / frames:.1f} ms a frame")


def live_preview(width: int, height: int, frames: int, device: str) -> None:
    s = make_demo_scene(width, height, n_balls=2, n_static=20)
    opts = PlanOptions(num_frames=frames)
    scene = build_scene(s.image, s.depth, s.object_masks, s.static_masks, opts)
    lifted, source = lift_scene(scene, device), warp_source(scene, device)
    render_ms, warp_ms, cpu_ms = [], [], []
    for f in list(range(frames)) * 2:
        t0, c0 = time.perf_counter(), time.process_time()
        render = render_stage(lifted, s.tracks, opts, frames=[f])
        t1 = time.perf_counter()
        warp_render(render, source)
        t2, c2 = time.perf_counter(), time.process_time()
        render_ms.append(1000 * (t1 - t0))
        warp_ms.append(1000 * (t2 - t1))
        cpu_ms.append(1000 * (c2 - c0))
    total = [a + b for a, b in zip(render_ms, warp_ms)]
    print(f"live preview, one frame of {frames} at {height}x{width}: render {statistics.median(render_ms):.1f} ms + "
          f"warp {statistics.median(warp_ms):.1f} ms = median {statistics.median(total):.1f} ms "
          f"(max {max(total):.1f} ms), cpu {statistics.median(cpu_ms):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    run_case(288, 512, 16, args.repeats, args.device)
    run_case(1024, 576, 25, args.repeats, args.device)
    live_preview(288, 512, 16, args.device)
    print(f"process peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
