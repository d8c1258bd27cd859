"""How a tracked point moves: the lift / move / project step shared by everything that follows a
scene along its tracks (the moved masks, the point tracks, the warped video).

A point of an object at pixel position ``(u, v)`` with reference depth ``z`` is lifted to 3D,
shifted by its track's motion since frame 0, ``(dx, dy, dd)``, and projected again. The camera's
focal lengths cancel, so the projection scales the shifted point about the image centre by
``rho = z / (z + dd)``::

    x = W / 2 + (u + dx - W / 2) * rho
    y = H / 2 + (v + dy - H / 2) * rho

A point whose new depth ``z + dd`` is not positive is behind the camera: not valid. Positions are
in the render's pixel units (a pixel's own position ``(u, v)`` = ``(column, row)``). Works on NumPy
arrays and torch tensors alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def motion_deltas(trajectories: np.ndarray) -> np.ndarray:
    """``(n, F, 3)`` per-frame ``(dx, dy, dd)`` of resampled trajectories ``(n, F, 3)`` since frame 0."""
    traj = np.asarray(trajectories, dtype=np.float64)
    if traj.ndim != 3 or traj.shape[2] != 3 or traj.shape[1] < 1:
        raise ValueError(f"trajectories must be (n_objects, F >= 1, 3), got shape {traj.shape}")
    return traj - traj[:, :1]


def project_moved(u: Any, v: Any, z: Any, dx: Any, dy: Any, dd: Any, width: int, height: int):
    """``(x, y, z_new, valid)`` of points ``(u, v, z)`` moved by ``(dx, dy, dd)`` (broadcast together;
    NumPy arrays or torch tensors).

    ``z_new = z + dd``; ``valid`` is ``z_new > 0``; where not valid ``x, y`` are the unscaled
    shifted position (finite, but meaningless)."""
    z_new = z + dd
    valid = z_new > 0
    rho = z / _where(valid, z_new, z_new * 0 + 1)
    x = width / 2.0 + (u + dx - width / 2.0) * rho
    y = height / 2.0 + (v + dy - height / 2.0) * rho
    return x, y, z_new, valid


def _where(cond: Any, a: Any, b: Any) -> Any:
    if isinstance(cond, torch.Tensor):
        return torch.where(cond, a, b)
    return np.where(cond, a, b)
