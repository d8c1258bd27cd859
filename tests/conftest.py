"""Shared fixtures: small synthetic scenes."""

from __future__ import annotations

import numpy as np
import pytest


def disc(shape, cy, cx, r):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r


def box(shape, r0, r1, c0, c1):
    m = np.zeros(shape, dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def ball_and_obstacle(shape, ball_at, obstacle_box, ball_depth):
    """A ball (``(cy, cx, r)``) at ``ball_depth`` and a static box at depth 1/80 on a far (1.0)
    background: ``(ball, obstacle, depth)``."""
    ball = disc(shape, *ball_at)
    obstacle = box(shape, *obstacle_box)
    depth = np.full(shape, 1.0)
    depth[obstacle] = 1 / 80
    depth[ball] = ball_depth
    return ball, obstacle, depth


@pytest.fixture
def small_scene():
    """64×48 scene: a ball (user object) left of a wall (static) on a floor (static)."""
    h, w = 64, 48
    image = np.full((h, w, 3), 120, dtype=np.uint8)
    d8 = np.full((h, w), 40, dtype=np.uint8)
    floor = box((h, w), 32, 64, 0, 48)
    d8[floor] = 100
    wall = box((h, w), 16, 48, 28, 40)
    d8[wall] = 80  # depth 1/80 = 0.0125
    ball = disc((h, w), 40, 12, 6)
    d8[ball] = 150  # depth 1/150
    floor &= ~wall & ~ball
    wall &= ~ball
    depth = 1.0 / d8.astype(np.float64)
    return dict(image=image, depth=depth, object_masks=[ball], static_masks=[floor, wall], d8=d8)


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tests use tiny models and images: torch threads only add start-up cost, and stall badly
    when the two cores are shared with other work. One thread for the whole run."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
