"""Control points: K-means centres of every labelled region in every frame.

The number of points per label is fixed over the frames (the adaptive k rule); pixels are
subsampled every 10th in raster order; K-means starts from evenly spaced samples, and later
frames reuse a label's stored initialisation while a NumPy ``in`` test (element-wise: any pixel
sharing the row *or* the column value) accepts it. Partly hidden objects squeeze their points
into the visible part; regions too small for their k get no points in that frame.
"""

from __future__ import annotations

import warnings

import numpy as np

from .options import KRule
from .scene import area_statistics


def choose_k(label: int, area_min: int, area_max: int, num_objects: int, height: int, width: int,
             rule: KRule = KRule()) -> int:
    """``k0`` for a label: ``clamp(round(alpha * area_max / (H * W)), 1, k_max)``, raised to
    ``k_min_forced`` for user objects (label <= num_objects), labels that vanish in some frame, or
    whose area varies more than ``area_ratio`` times. 0 if the label never appears."""
    if area_max == 0:
        return 0
    k = round(float(area_max) * rule.alpha / (height * width))  # half-to-even, as the reference
    k = min(max(k, 1), rule.k_max)
    if label <= num_objects or area_min == 0 or area_max / area_min > rule.area_ratio:
        k = max(k, rule.k_min_forced)
    return k


def _even_init(points: np.ndarray, k: int) -> np.ndarray:
    step = len(points) // k
    return points[step // 2 + step * np.arange(k)]


def _membership_fails(stored: np.ndarray, points: np.ndarray) -> bool:
    """The reference's ``any(s not in P for s in S)`` with NumPy's element-wise ``in``."""
    for s in stored:
        if not (points == s).any():
            return True
    return False


class _KMeansCache:
    """Remembers each label's last K-means input and result: a static region whose pixels and
    initialisation did not change between frames gives the same centres without refitting."""

    def __init__(self):
        self._last: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def fit(self, label: int, points: np.ndarray, init: np.ndarray) -> np.ndarray:
        last = self._last.get(label)
        if last is not None and last[0].shape == points.shape and last[1].shape == init.shape \
                and np.array_equal(last[1], init) and np.array_equal(last[0], points):
            return last[2]
        centres = _kmeans(points, init)
        self._last[label] = (points, init.copy(), centres)
        return centres


def _kmeans(points: np.ndarray, init: np.ndarray) -> np.ndarray:
    from sklearn.cluster import KMeans

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning for duplicate points
        km = KMeans(n_clusters=len(init), init=init, n_init=1).fit(points)
    return km.cluster_centers_


def select_keypoints(labels: np.ndarray, depths: np.ndarray, num_objects: int, *, ratio: float = 1.0,
                     area_min: np.ndarray | None = None, area_max: np.ndarray | None = None,
                     rule: KRule = KRule(), safe_k: bool = True) -> list[np.ndarray]:
    """K-means control points for every frame: a list of ``(N, 4)`` int64 arrays
    ``[row, col, label, depth_code]``, labels ascending, clusters in K-means order.

    ``labels`` ``(F, H, W)`` int and ``depths`` ``(F, H, W)`` reference depth per frame.
    ``depth_code = round(1 / depth)`` at the (truncated) centre, 0 where that is 1 (far).
    ``ratio`` scales every label's k (``max(1, int(k0 * ratio))``): small = few points (non-rigid),
    large = many (rigid). ``safe_k`` keeps k at most the number of subsampled pixels (the
    reference raises there instead).
    """
    labels = np.asarray(labels)
    depths = np.asarray(depths)
    if labels.ndim != 3:
        raise ValueError(f"labels must be (F, H, W), got shape {labels.shape}")
    if depths.shape != labels.shape:
        raise ValueError(f"depths {depths.shape} and labels {labels.shape} must have the same shape")
    if not np.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"ratio must be a positive number, got {ratio!r}")
    n_frames, height, width = labels.shape
    if area_min is None or area_max is None:
        area_min, area_max = area_statistics(labels)
    n_labels = len(area_max)
    k0 = [choose_k(lab, int(area_min[lab - 1]), int(area_max[lab - 1]), num_objects, height, width, rule)
          for lab in range(1, n_labels + 1)]

    from threadpoolctl import threadpool_limits

    # One K-means fit is small; OpenMP threads only add start-up cost and contend with the host.
    with threadpool_limits(limits=1, user_api="openmp"):
        return _select(labels, depths, k0, n_labels, ratio, rule, safe_k)


def _select(labels, depths, k0, n_labels, ratio, rule, safe_k) -> list[np.ndarray]:
    n_frames, height, width = labels.shape
    rows_grid, cols_grid = np.indices((height, width), dtype=np.float32)
    stored: dict[int, np.ndarray] = {}
    cache = _KMeansCache()
    out: list[np.ndarray] = []
    for t in range(n_frames):
        frame = labels[t]
        flat = frame.ravel()
        order = np.argsort(flat, kind="stable")  # raster order within each label
        bounds = np.searchsorted(flat[order], np.arange(0, n_labels + 2))
        kps: list[list[int]] = []
        max_label = min(int(frame.max()), n_labels)
        for lab in range(1, max_label + 1):
            k = k0[lab - 1]
            if k == 0:
                continue
            idx = order[bounds[lab]:bounds[lab + 1]][:: rule.subsample]
            if len(idx) < k:
                continue
            pts = np.stack([rows_grid.ravel()[idx], cols_grid.ravel()[idx]], axis=1)
            k = max(1, int(k * ratio))
            if safe_k:
                k = min(k, len(pts))
            if lab not in stored:
                first = cache.fit(lab, pts, _even_init(pts, k))
                stored[lab] = first
            elif len(stored[lab]) != k or _membership_fails(stored[lab], pts):
                stored[lab] = _even_init(pts, k)
            centres = cache.fit(lab, pts, stored[lab])
            for c in centres:
                r, cc = int(c[0]), int(c[1])
                code = round(1.0 / float(depths[t, r, cc]))
                if code == 1:
                    code = 0
                kps.append([r, cc, lab, code])
        out.append(np.asarray(kps, dtype=np.int64).reshape(-1, 4))
    return out
