"""The CPU thread bound of the planning stage's torch work (render, warp, point tracks).

Their torch operations are many and mid-sized, and each waits for all of its intra-op threads:
beside a busy process a thread that lost its core stalls every one of them (measured: 10x the
time and more on 2 shared cores). On one thread they run in turn and keep their speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

# Torch intra-op threads the planning stage runs on, on the CPU.
PLANNING_CPU_THREADS = 1


@contextmanager
def bounded_cpu_threads(device: Any = None, limit: int = PLANNING_CPU_THREADS) -> Iterator[None]:
    """Run torch on at most ``limit`` intra-op threads inside the block when ``device`` is the CPU
    (``None`` counts as the CPU); the previous count is restored afterwards. Other devices: no change."""
    previous = torch.get_num_threads()
    if torch.device(device if device is not None else "cpu").type != "cpu" or previous <= limit:
        yield
        return
    torch.set_num_threads(limit)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
