"""Throughput of the training data pipeline (depth cached): clips per second.

Writes a synthetic VOS dataset (DAVIS layout at 854x480, or SA-V layout with MP4 videos), fills the
depth cache once (not timed), then times the DataLoader producing 16x288x512 clips (frames, label
maps, K-means control points, control maps) with 0, 1 and 2 workers, plus a per-stage breakdown::

    python bench/data.py                      # DAVIS layout, workers 0 1 2
    python bench/data.py --layout sav --clips 16 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=["davis", "sav"], default="davis")
    parser.add_argument("--source_width", type=int, default=854)
    parser.add_argument("--source_height", type=int, default=480)
    parser.add_argument("--width", type=int, default=288)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--num_frames", type=int, default=16)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--clips", type=int, default=12, help="clips timed per worker setting")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data_dir", default=None, help="reuse/keep the dataset here (default: a temp dir)")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from levitor.training import synthetic
    from levitor.training.clip_dataset import VOSClipDataset, collate_clips, seed_worker
    from levitor.training.clips import ClipOptions, DepthCache, prepare_clip
    from levitor.training.datasets import load_clip, scan_dataset
    from levitor.training.trainer import EpochSampler

    tmp = None
    if args.data_dir:
        root = Path(args.data_dir)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="levitor_bench_data_")
        root = Path(tmp.name)
    data = root / args.layout
    if not data.exists():
        t = time.perf_counter()
        synthetic.write_dataset(data, layout=args.layout, num_videos=args.videos, num_frames=args.num_frames + 8,
                                height=args.source_height, width=args.source_width, num_objects=args.objects)
        print(f"wrote {args.videos} videos ({args.layout}, {args.source_width}x{args.source_height}) "
              f"in {time.perf_counter() - t:.1f}s")
    records, problems = scan_dataset(data)
    assert not problems, problems
    cache = DepthCache(root / f"depth_{args.layout}", synthetic.fake_disparity)
    for rec in records:
        frames, _ = load_clip(rec, range(rec.num_annotated))
        for i, f in enumerate(frames):
            if not cache.has(rec, i):
                cache.compute(rec, i, f)
    opts = ClipOptions(width=args.width, height=args.height)
    dataset = VOSClipDataset(records, cache, opts, num_frames=args.num_frames, seed=0)

    # Per-stage breakdown in this process (one thread, as in a worker).
    torch.set_num_threads(1)
    seed_worker(0)
    stages = {"decode": [], "depth": [], "prepare": [], "tensors": []}
    from levitor.training.clips import clip_tensors

    for i in range(min(4, args.clips)):
        idx = dataset.clip_indices(i % len(dataset))
        rec = dataset.records[i % len(dataset)]
        t0 = time.perf_counter()
        frames, labels = load_clip(rec, idx)
        t1 = time.perf_counter()
        d8 = np.stack([cache(rec, j, f) for j, f in zip(idx, frames)])
        t2 = time.perf_counter()
        clip = prepare_clip(frames, labels, d8, opts)
        t3 = time.perf_counter()
        clip_tensors(clip)
        t4 = time.perf_counter()
        for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[k].append(v)
    print("per clip (median of {} runs, 1 thread): ".format(len(stages["decode"]))
          + ", ".join(f"{k} {np.median(v) * 1000:.0f} ms" for k, v in stages.items()))

    import os

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; clip "
          f"{args.num_frames}x{args.height}x{args.width} (F x H x W), {torch.get_num_threads()} torch thread(s), "
          f"{len(records)} videos")
    for workers in args.workers:
        loader = torch.utils.data.DataLoader(dataset, batch_size=1, sampler=EpochSampler(len(dataset), 0),
                                             num_workers=workers, collate_fn=collate_clips,
                                             worker_init_fn=seed_worker if workers else None,
                                             persistent_workers=False)
        n = 0
        start = cpu_start = None
        epoch = 0
        while n < args.clips + max(workers, 1):
            dataset.set_epoch(epoch)
            loader.sampler.set_epoch(epoch)
            for batch in loader:
                if start is None:  # exclude worker start-up and the first clip
                    start, cpu_start = time.perf_counter(), time.process_time()
                    n = 0
                    continue
                n += batch["frames"].shape[0]
                if n >= args.clips:
                    break
            epoch += 1
            if n >= args.clips:
                break
        elapsed = time.perf_counter() - start
        rate = n / elapsed
        per = rate / max(workers, 1)
        extra = ""
        if workers == 0:  # CPU time of this process: the rate one free core would give
            extra = f"; {n / (time.process_time() - cpu_start):.2f} clips per CPU-second"
        print(f"workers={workers}: {rate:.2f} clips/s ({per:.2f} clips/s/worker) over {n} clips{extra}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
