import numpy as np
import pytest
from sklearn.cluster import KMeans

from conftest import box, disc
from levitor.planning.keypoints import KRule, area_statistics, choose_k, select_keypoints


def test_k_rule_edge_cases():
    h, w = 100, 100  # alpha * area / (H*W) = area / 200
    assert choose_k(5, 10, 0, 0, h, w) == 0  # never seen
    assert choose_k(5, 100, 100, 0, h, w) == 1  # round(0.5) = 0 -> clamp to 1
    assert choose_k(5, 500, 500, 0, h, w) == 2  # round(2.5) = 2: half to even
    assert choose_k(5, 700, 700, 0, h, w) == 4  # round(3.5) = 4
    assert choose_k(5, 10_000, 10_000, 0, h, w) == 8  # clamped to k_max
    assert choose_k(1, 100, 100, 1, h, w) == 3  # user objects get at least 3
    assert choose_k(5, 0, 100, 0, h, w) == 3  # vanishes in some frame
    assert choose_k(5, 9, 100, 0, h, w) == 3  # area changes more than 10x
    assert choose_k(5, 10, 100, 0, h, w) == 1  # exactly 10x: not more
    assert choose_k(5, 9, 100, 0, h, w, KRule(k_min_forced=5)) == 5


def reference_keypoints(labels, depths, num_objects, ratio=1.0):
    """Slow transcription of the reference's keypoint loop (§4): per frame, per label, with
    the element-wise membership test and the double fit on a label's first frame."""
    n_frames, h, w = labels.shape
    area_min, area_max = area_statistics(labels)
    pos = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1).astype(np.float32)
    stored = {}
    out = []
    for t in range(n_frames):
        res = []
        for i in range(labels[t].max()):
            p = pos[labels[t] == i + 1]
            if area_max[i] == 0:
                continue
            k = min(max(round(area_max[i] * 50 / (h * w)), 1), 8)
            if i < num_objects or area_min[i] == 0 or area_max[i] / area_min[i] > 10:
                k = max(k, 3)
            p = p[::10]
            if len(p) < k:
                continue
            k = max(1, int(k * ratio))

            def even(p=p, k=k):
                step = len(p) // k
                return p[[step // 2 + m * step for m in range(k)]]

            if i + 1 not in stored:
                stored[i + 1] = KMeans(n_clusters=k, init=even(), n_init=1).fit(p).cluster_centers_
            else:
                for s in stored[i + 1]:
                    if s not in p:
                        stored[i + 1] = even()
                        break
            for c in KMeans(n_clusters=k, init=stored[i + 1], n_init=1).fit(p).cluster_centers_:
                d = round(1.0 / float(depths[t, int(c[0]), int(c[1])]))
                res.append([int(c[0]), int(c[1]), i + 1, 0 if d == 1 else d])
        out.append(np.array(res, dtype=np.int64).reshape(-1, 4))
    return out


def moving_labels(n_frames=6, h=60, w=50, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.zeros((n_frames, h, w), np.int32)
    depths = np.ones((n_frames, h, w), np.float32)
    for t in range(n_frames):
        labels[t][box((h, w), 35, 60, 0, 50)] = 3  # floor
        labels[t][box((h, w), 10, 40, 30, 42)] = 2  # a wall
        depths[t][labels[t] == 3] = 1 / 90
        depths[t][labels[t] == 2] = 1 / 70
        ball = disc((h, w), 20 + 2 * t, 10 + 4 * t + rng.integers(0, 2), 6)
        labels[t][ball] = 1
        depths[t][ball] = np.float32(1 / (100 + 5 * t))
        labels[t][box((h, w), 0, 8, 0, 4 + t)] = 4  # a region whose size changes
    return labels, depths


@pytest.mark.parametrize("ratio", [1.0, 0.4, 2.5])
def test_equals_reference_loop(ratio):
    labels, depths = moving_labels()
    got = select_keypoints(labels, depths, 1, ratio=ratio)
    want = reference_keypoints(labels, depths, 1, ratio)
    assert len(got) == len(want)
    for g, r in zip(got, want):
        np.testing.assert_array_equal(g, r)


def test_order_labels_and_depth_codes():
    labels, depths = moving_labels()
    kps = select_keypoints(labels, depths, 1)
    for t, k in enumerate(kps):
        assert k.dtype == np.int64 and k.shape[1] == 4
        assert np.all(np.diff(k[:, 2]) >= 0)  # labels ascending
        assert np.sum(k[:, 2] == 1) == 3  # the moved object gets k >= 3
        ball = k[k[:, 2] == 1]
        assert np.all(ball[:, 3] == round(1 / float(np.float32(1 / (100 + 5 * t)))))
        assert np.all(k[k[:, 2] == 3][:, 3] == 90)


def test_hidden_and_squeezed_objects():
    h, w = 80, 80
    labels = np.zeros((3, h, w), np.int32)
    labels[:] = 2
    full = disc((h, w), 40, 40, 8)  # k0 = round(50 * 197 / 6400) = 2, raised to 3 for a user object
    labels[0][full] = 1
    labels[1][full & (np.arange(w)[None, :] < 37)] = 1  # partly hidden: squeezed into the left part
    # frame 2: fully hidden
    depths = np.full((3, h, w), 0.5, np.float32)
    kps = select_keypoints(labels, depths, 1)
    assert np.sum(kps[0][:, 2] == 1) == 3
    squeezed = kps[1][kps[1][:, 2] == 1]
    assert len(squeezed) == 3 and np.all(squeezed[:, 1] < 37)
    assert np.sum(kps[2][:, 2] == 1) == 0


def test_k_larger_than_points_is_clamped_not_an_error():
    labels = np.zeros((2, 20, 20), np.int32)
    labels[:, 5:10, 5:8] = 1  # 15 px -> 2 subsampled points
    depths = np.full((2, 20, 20), 0.5, np.float32)
    with pytest.raises(ValueError):
        reference_keypoints(labels, depths, 0, ratio=4.0)  # the reference: k > points
    kps = select_keypoints(labels, depths, 0, ratio=4.0)
    assert [len(k) for k in kps] == [2, 2]


def test_bad_arguments():
    labels = np.zeros((2, 5, 5), np.int32)
    with pytest.raises(ValueError, match="same shape"):
        select_keypoints(labels, np.ones((2, 5, 4)), 0)
    with pytest.raises(ValueError, match="ratio"):
        select_keypoints(labels, np.ones((2, 5, 5)), 0, ratio=0)
    with pytest.raises(ValueError, match=r"\(F, H, W\)"):
        select_keypoints(labels[0], np.ones((5, 5)), 0)


def test_direct_lloyd_equals_sklearn_kmeans_fit():
    """The direct Lloyd loop gives scikit-learn's KMeans.fit centres bit for bit (random regions,
    duplicates, k up to the number of points, inits that leave clusters empty)."""
    from threadpoolctl import threadpool_limits

    from levitor.planning.keypoints import _kmeans, _kmeans_sklearn

    rng = np.random.default_rng(5)
    for trial in range(150):
        n = int(rng.integers(1, 400))
        spread = float(rng.choice([2.0, 30.0, 500.0]))
        pts = np.floor(rng.normal(size=(n, 2)) * spread + 100).astype(np.float32)
        if trial % 5 == 0:
            pts[: n // 2] = pts[0]  # many duplicates
        k = int(rng.integers(1, min(n, 8) + 1))
        init = pts[rng.choice(n, size=k, replace=False)] if trial % 3 else pts[np.zeros(k, dtype=int)]
        with threadpool_limits(limits=1):  # as select_keypoints fits: the sums' order follows the threads
            np.testing.assert_array_equal(_kmeans(pts, init), _kmeans_sklearn(pts, init))


def test_labels_fitted_in_parallel_give_the_serial_result(monkeypatch):
    from levitor.planning import keypoints

    labels, depths = moving_labels(n_frames=5)
    monkeypatch.setattr(keypoints, "_workers", lambda: 1)
    serial = select_keypoints(labels, depths, 1)
    monkeypatch.setattr(keypoints, "_workers", lambda: 2)
    parallel = select_keypoints(labels, depths, 1)
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)
