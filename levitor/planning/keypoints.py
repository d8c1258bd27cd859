"""Control points: K-means centres of every labelled region in every frame.

The number of points per label is fixed over the frames (the adaptive k rule); pixels are
subsampled every 10th in raster order; K-means starts from evenly spaced samples, and later
frames reuse a label's stored initialisation while a NumPy ``in`` test (element-wise: any pixel
sharing the row *or* the column value) accepts it. Partly hidden objects squeeze their points
into the visible part; regions too small for their k get no points in that frame.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..limits import RATIO
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


_MIN_CODE_DEPTH = 1e-12  # depth codes stay below 10**12 (int64) for any positive depth
_KMEANS_THREADS = 2  # labels fitted in parallel (each label's frames in order)


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


def _kmeans_sklearn(points: np.ndarray, init: np.ndarray) -> np.ndarray:
    from sklearn.cluster import KMeans

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning for duplicate points
        km = KMeans(n_clusters=len(init), init=init, n_init=1).fit(points)
    return km.cluster_centers_


def _kmeans(points: np.ndarray, init: np.ndarray) -> np.ndarray:
    """``KMeans(n_clusters=len(init), init=init, n_init=1).fit(points).cluster_centers_``, one thread.

    The same steps as scikit-learn's ``KMeans.fit`` with an array init (float32 data stay float32,
    the tolerance is ``1e-4`` times the mean per-feature variance, data and init are centred on the
    data mean, Lloyd iterations until the labels stop changing or the centre shift is within the
    tolerance, at most 300, then a last assignment), calling its compiled Lloyd step directly:
    the per-call input validation was half the planning time. Falls back to ``KMeans`` where that
    step is not available.
    """
    if _lloyd_iter is None:
        return _kmeans_sklearn(points, init)
    X = np.array(points, dtype=np.float32 if points.dtype == np.float32 else np.float64, order="C", copy=True)
    centers = np.array(init, dtype=X.dtype, order="C", copy=True)
    n_clusters = len(centers)
    if X.shape[0] < n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
    tol = np.mean(np.var(X, axis=0)) * 1e-4
    x_mean = X.mean(axis=0)
    X -= x_mean
    centers -= x_mean
    sample_weight = np.ones(X.shape[0], dtype=X.dtype)
    centers_new = np.zeros_like(centers)
    labels = np.full(X.shape[0], -1, dtype=np.int32)
    labels_old = labels.copy()
    weight_in_clusters = np.zeros(n_clusters, dtype=X.dtype)
    center_shift = np.zeros(n_clusters, dtype=X.dtype)
    strict = False
    for _ in range(300):
        _lloyd_iter(X, sample_weight, centers, centers_new, weight_in_clusters, labels, center_shift, 1)
        centers, centers_new = centers_new, centers
        if np.array_equal(labels, labels_old):
            strict = True
            break
        if (center_shift ** 2).sum() <= tol:
            break
        labels_old[:] = labels
    if not strict:
        _lloyd_iter(X, sample_weight, centers, centers, weight_in_clusters, labels, center_shift, 1,
                    update_centers=False)
    return centers + x_mean


try:  # scikit-learn's compiled Lloyd step (private; present since 0.23)
    from sklearn.cluster._k_means_lloyd import lloyd_iter_chunked_dense as _lloyd_iter
except ImportError:  # pragma: no cover - a scikit-learn without it
    _lloyd_iter = None


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
    ratio = RATIO.check(ratio)
    if depths.size and not (np.all(np.isfinite(depths)) and depths.min() > 0):
        raise ValueError("depths must be finite and positive (reference depth: smaller = nearer, 1 = far)")
    n_frames, height, width = labels.shape
    if area_min is None or area_max is None:
        area_min, area_max = area_statistics(labels)
    n_labels = len(area_max)
    k0 = [choose_k(lab, int(area_min[lab - 1]), int(area_max[lab - 1]), num_objects, height, width, rule)
          for lab in range(1, n_labels + 1)]

    from threadpoolctl import threadpool_limits

    # One K-means fit is small; threads only add start-up cost and contend with the host.
    with threadpool_limits(limits=1):
        return _select(labels, depths, k0, n_labels, ratio, rule, safe_k)


def _workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(_KMEANS_THREADS, cpus))


def _select(labels, depths, k0, n_labels, ratio, rule, safe_k) -> list[np.ndarray]:
    n_frames, height, width = labels.shape
    rows_flat, cols_flat = (g.ravel() for g in np.indices((height, width), dtype=np.float32))
    orders, bounds, max_labels = [], [], []
    # A stable sort is one permutation whatever the algorithm: small non-negative labels sort as
    # uint16, for which NumPy's stable sort is a radix sort (several times faster).
    small = labels.size > 0 and labels.min() >= 0 and labels.max() < 2**16
    for t in range(n_frames):
        flat = labels[t].ravel()
        order = np.argsort(flat.astype(np.uint16) if small else flat, kind="stable")  # raster order per label
        orders.append(order)
        bounds.append(np.searchsorted(flat[order], np.arange(0, n_labels + 2)))
        max_labels.append(min(int(flat.max()), n_labels))

    def chain(lab: int) -> dict[int, np.ndarray]:
        """One label's centres per frame: its frames depend on each other, labels do not."""
        stored = None
        cache = _KMeansCache()
        found: dict[int, np.ndarray] = {}
        for t in range(n_frames):
            if lab > max_labels[t]:
                continue
            k = k0[lab - 1]
            idx = orders[t][bounds[t][lab]:bounds[t][lab + 1]][:: rule.subsample]
            if len(idx) < k:
                continue
            pts = np.stack([rows_flat[idx], cols_flat[idx]], axis=1)
            k = max(1, int(k * ratio))
            if safe_k:
                k = min(k, len(pts))
            if stored is None:
                stored = cache.fit(lab, pts, _even_init(pts, k))
            elif len(stored) != k or _membership_fails(stored, pts):
                stored = _even_init(pts, k)
            found[t] = cache.fit(lab, pts, stored)
        return found

    labs = [lab for lab in range(1, n_labels + 1) if k0[lab - 1] != 0]
    workers = min(_workers(), len(labs))
    if workers > 1:  # the compiled Lloyd step runs without the GIL
        with ThreadPoolExecutor(max_workers=workers) as pool:
            chains = list(pool.map(chain, labs))
    else:
        chains = [chain(lab) for lab in labs]
    out: list[np.ndarray] = []
    for t in range(n_frames):
        kps: list[list[int]] = []
        for lab, found in zip(labs, chains):
            for c in found.get(t, ()):
                r, cc = int(c[0]), int(c[1])
                code = round(1.0 / max(float(depths[t, r, cc]), _MIN_CODE_DEPTH))
                if code == 1:
                    code = 0
                kps.append([r, cc, lab, code])
        out.append(np.asarray(kps, dtype=np.int64).reshape(-1, 4))
    return out
