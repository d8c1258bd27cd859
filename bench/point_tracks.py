"""Time of the point tracks of a plan (levitor.point_tracks) and of their preview.

Prints the median wall time over repeats for the demo scene (2 moving objects, 20 static segments)
planned at 512x288 (H x W) and mapped to an 832x480 video:
  * 81 frames (Wan's default) with occlusion (the render) and without it
  * 121 frames (the ATI text's samples) with occlusion
  * the preview drawing of the 81-frame tracks at the video size

    python bench/point_tracks.py [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from levitor.assets.demo_scene import make_demo_scene
from levitor.planning.point_tracks import fit_to_output, point_tracks
from levitor.planning.preview import draw_point_tracks


def median_time(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up: imports, caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    scene = make_demo_scene(288, 512, n_balls=2, n_static=20)
    inputs = (scene.image, scene.depth, scene.object_masks, scene.static_masks, scene.tracks)
    size = (480, 832)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    for frames, occlusion in ((81, True), (81, False), (121, True)):
        t, res = median_time(lambda frames=frames, occlusion=occlusion: point_tracks(
            *inputs, frames, output_size=size, occlusion=occlusion, device=args.device), args.repeats)
        print(f"point_tracks {frames} frames, {res.num_points} points, occlusion {occlusion}: {t:.3f} s")
    res = point_tracks(*inputs, 81, output_size=size, device=args.device)
    background = fit_to_output(scene.image, size)
    t, _ = median_time(lambda: draw_point_tracks(background, res.paths, res.visibility, res.objects),
                       args.repeats)
    print(f"preview of 81 frames at {size[0]}x{size[1]}, {res.num_points} points: {t:.3f} s")


if __name__ == "__main__":
    main()
