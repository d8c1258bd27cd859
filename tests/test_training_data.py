"""Training data: RLE, synthetic datasets in both layouts, clip preparation, bad-data handling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from levitor.training import synthetic
from levitor.training.clip_dataset import VOSClipDataset, collate_clips
from levitor.training.clips import (
    ClipOptions,
    DepthCache,
    DepthFolder,
    batch_to_model_inputs,
    center_crop_box,
    crop_resize,
    prepare_clip,
)
from levitor.training.datasets import (
    BadDataError,
    load_clip,
    read_video_frames,
    relabel_instances,
    scan_dataset,
)
from levitor.training.rle import RLEError, rle_decode, rle_encode

H, W, F = 48, 32, 6


# ------------------------------------------------------------------------------------ RLE


def test_rle_decodes_a_hand_made_coco_string():
    # 3x3 mask, column-major runs: 1 zero, 2 ones, 4 zeros, 1 one, 1 zero -> "1213" style counts
    mask = np.array([[0, 0, 0], [1, 0, 1], [1, 0, 0]], dtype=bool)
    counts = [1, 2, 4, 1, 1]
    assert np.array_equal(rle_decode({"size": [3, 3], "counts": counts}), mask)
    encoded = rle_encode(mask)
    assert isinstance(encoded["counts"], str)
    assert np.array_equal(rle_decode(encoded), mask)
    assert rle_encode(mask, compressed=False)["counts"] == counts


def test_rle_round_trips_random_masks_and_long_runs():
    rng = np.random.default_rng(0)
    for _ in range(30):
        h, w = rng.integers(1, 60, 2)
        mask = rng.random((h, w)) < rng.random()
        assert np.array_equal(rle_decode(rle_encode(mask)), mask)
    big = np.zeros((400, 300), dtype=bool)
    big[100:350, 20:280] = True  # runs far beyond 5-bit chunks, negative deltas
    assert np.array_equal(rle_decode(rle_encode(big)), big)


def test_rle_matches_pycocotools_when_installed():
    mask_api = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(1)
    mask = (rng.random((37, 23)) < 0.4).astype(np.uint8)
    ref = mask_api.encode(np.asfortranarray(mask))
    assert rle_encode(mask)["counts"] == ref["counts"].decode()
    assert np.array_equal(rle_decode({"size": ref["size"], "counts": ref["counts"].decode()}), mask.astype(bool))


@pytest.mark.parametrize("bad", [
    {"size": [2, 2], "counts": [1, 2]},  # covers 3 of 4 pixels
    {"size": [2, 2], "counts": "!!"},  # invalid characters
    {"counts": [4]},  # no size
])
def test_rle_errors_are_clear(bad):
    with pytest.raises(RLEError):
        rle_decode(bad)


# ----------------------------------------------------------------------------- synthetic


def test_synthetic_video_moves_scales_and_occludes():
    v = synthetic.make_video(0, num_frames=12, height=96, width=64, num_objects=3)
    assert v.frames.shape == (12, 96, 64, 3) and v.frames.dtype == np.uint8
    assert set(np.unique(v.labels)) <= {0, 1, 2, 3}
    areas = np.stack([[np.sum(lab == k) for k in (1, 2, 3)] for lab in v.labels])
    centroids = [np.argwhere(v.labels[t] == 1).mean(axis=0) for t in (0, 11)]
    assert np.linalg.norm(centroids[1] - centroids[0]) > 2  # moves
    assert np.any(areas.max(axis=0) > 1.1 * areas.min(axis=0))  # area changes (scaling / occlusion)
    # objects sit in front of the background in the disparity
    assert v.disparity[0][v.labels[0] > 0].mean() > v.disparity[0][v.labels[0] == 0].mean()


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("vos")
    synthetic.write_dataset(root / "davis", layout="davis", num_videos=2, num_frames=8, height=H, width=W,
                            depth_dir=root / "depth_davis")
    synthetic.write_dataset(root / "sav", layout="sav", num_videos=2, num_frames=8, height=H, width=W,
                            frame_stride=4, depth_dir=root / "depth_sav")
    synthetic.write_dataset(root / "savf", layout="sav", num_videos=1, num_frames=8, height=H, width=W,
                            as_video=False)
    return root


@pytest.mark.parametrize("layout", ["davis", "sav", "savf"])
def test_both_layouts_read_back_the_generated_labels(datasets, layout):
    records, problems = scan_dataset(datasets / layout)
    assert problems == []
    assert len(records) == (1 if layout == "savf" else 2)
    rec = records[0]
    assert rec.num_annotated == 8
    assert rec.frame_stride == (4 if layout == "sav" else 1)
    frames, labels = load_clip(rec, [2, 3, 4, 5])
    truth = synthetic.make_video(np.random.default_rng([0, 0]), 8, H, W, 3)
    assert frames.shape == (4, H, W, 3)
    assert np.array_equal(labels, truth.labels[2:6])
    assert np.abs(frames.astype(int) - truth.frames[2:6]).mean() < 12  # JPEG / H.264 loss only


def test_video_reader_seeks_to_late_frames(tmp_path):
    frames = np.zeros((60, 32, 32, 3), dtype=np.uint8)
    for i in range(60):
        frames[i, :, :] = (i * 4) % 256
    video = synthetic.SyntheticVideo(frames, np.zeros((60, 32, 32), np.int32), np.zeros((60, 32, 32), np.float32))
    synthetic.write_sav_video(video, tmp_path, "v", fps=24)
    got = read_video_frames(tmp_path / "v.mp4", [40, 44, 59])
    assert np.abs(got[:, 8:24, 8:24].mean(axis=(1, 2, 3)) - np.array([160, 176, 236])).max() < 6


def test_relabel_and_crop_geometry():
    labels = np.array([[[0, 7], [300, 7]]])
    out, n = relabel_instances(labels)
    assert n == 2 and out.tolist() == [[[0, 1], [2, 1]]]
    assert center_crop_box(480, 854, 512, 288) == (0, 292, 480, 270)
    assert center_crop_box(100, 50, 512, 288) == (5, 0, 89, 50)
    lab = np.zeros((1, 480, 854), np.int32)
    lab[0, :, 427:] = 3
    res = crop_resize(lab, 64, 36, nearest=True)
    assert res.shape == (1, 64, 36) and set(np.unique(res)) == {0, 3}


def test_prepare_clip_uses_the_planning_core(datasets):
    from levitor.planning.control import draw_control_maps
    from levitor.planning.keypoints import select_keypoints
    from levitor.planning.scene import disparity_to_depth

    rec = scan_dataset(datasets / "davis")[0][0]
    frames, labels = load_clip(rec, range(6))
    depth = DepthFolder(datasets / "depth_davis")
    d8 = np.stack([depth(rec, i, f) for i, f in enumerate(frames)])
    clip = prepare_clip(frames, labels, d8, ClipOptions(width=W, height=H))
    assert clip.control.shape == (6, 3, H, W) and clip.control.dtype == np.float32
    assert clip.num_objects == 3
    expected_kp = select_keypoints(clip.labels, np.stack([disparity_to_depth(d) for d in d8.astype(np.float32)]), 3)
    assert all(np.array_equal(a, b) for a, b in zip(clip.keypoints, expected_kp))
    assert np.array_equal(clip.control, draw_control_maps(expected_kp, H, W))
    # every moved object gets at least 3 points in the first frame, ids and depth codes are drawn
    ids = clip.keypoints[0][:, 2]
    assert all(np.sum(ids == k) >= 3 for k in np.unique(clip.labels[0]) if k > 0)
    assert clip.control[:, 1].max() == 3 and clip.control[:, 2].max() > 0
    # background segment: unannotated pixels become label n + 1 with their own points
    bg = prepare_clip(frames, labels, d8, ClipOptions(width=W, height=H, background_segment=True))
    assert (bg.labels > 0).all() and 4 in bg.keypoints[0][:, 2]


def test_depth_cache_estimates_once_and_reuses(datasets, tmp_path):
    rec = scan_dataset(datasets / "davis")[0][0]
    frames, _ = load_clip(rec, [0, 1])
    calls = []

    def estimator(img):
        calls.append(1)
        return synthetic.fake_disparity(img)

    cache = DepthCache(tmp_path / "cache", estimator)
    a = cache(rec, 0, frames[0])
    b = cache(rec, 0, frames[0])
    assert len(calls) == 1 and np.array_equal(a, b) and a.dtype == np.uint8 and a.max() == 255
    disp = np.asarray(synthetic.fake_disparity(frames[0]), dtype=np.float64)
    # d8 = uint8(255 (D - min) / (max - min)): 0 at the farthest pixel; 0 everywhere for a constant map.
    np.testing.assert_array_equal(a, (255 * (disp - disp.min()) / (disp.max() - disp.min())).astype(np.uint8))
    flat = DepthCache(tmp_path / "flat", lambda img: np.full(img.shape[:2], 3.0, dtype=np.float32))
    assert (flat(rec, 0, frames[0]) == 0).all()
    assert (tmp_path / "cache" / rec.name / "00000.png").is_file()
    with pytest.raises(BadDataError, match="no depth estimator"):
        DepthCache(tmp_path / "empty")(rec, 0, frames[0])


def test_clip_dataset_is_deterministic_and_batches(datasets):
    records, _ = scan_dataset(datasets / "davis")
    depth = DepthFolder(datasets / "depth_davis")
    ds = VOSClipDataset(records, depth, ClipOptions(width=W, height=H), num_frames=4, seed=3)
    ds2 = VOSClipDataset(records, depth, ClipOptions(width=W, height=H), num_frames=4, seed=3)
    assert ds.clip_indices(1) == ds2.clip_indices(1)
    starts = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        starts.add(ds.clip_indices(0)[0])
    assert len(starts) > 1  # new positions per epoch
    batch = collate_clips([ds[0], ds[1]])
    assert batch["frames"].shape == (2, 4, 3, H, W) and batch["frames"].dtype == torch.uint8
    assert batch["control"].shape == (2, 4, 3, H, W)
    pixels, control = batch_to_model_inputs(batch)
    assert pixels.dtype == control.dtype == torch.float32
    assert -1.0 <= float(pixels.min()) and float(pixels.max()) <= 1.0
    clip = ds.load(0)
    assert np.array_equal(control[0].numpy(), clip.control)  # exact: all control values are integers
    assert np.array_equal(((pixels[0] + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy(), clip.frames)


# ------------------------------------------------------------------------------ bad data


@pytest.fixture
def broken_davis(tmp_path):
    root = tmp_path / "davis"
    synthetic.write_dataset(root, layout="davis", num_videos=5, num_frames=6, height=H, width=W,
                            depth_dir=tmp_path / "depth")
    (root / "Annotations" / "synth_0001" / "00003.png").unlink()  # missing annotation
    from PIL import Image

    Image.new("P", (W + 4, H)).save(root / "Annotations" / "synth_0002" / "00000.png")  # size mismatch
    empty = root / "JPEGImages" / "empty_video"
    empty.mkdir()
    (root / "Annotations" / "empty_video").mkdir()
    (root / "JPEGImages" / "synth_0003" / "00002.jpg").write_bytes(b"not a jpeg")  # corrupt, found when read
    return root, tmp_path / "depth"


def test_scan_reports_each_problem_with_its_file(broken_davis):
    root, _ = broken_davis
    records, problems = scan_dataset(root)
    text = "\n".join(str(p) for p in problems)
    assert "synth_0001/00003.png: annotation is missing" in text
    assert "synth_0002/00000.png: annotation is 36x48 but frame 00000.jpg is 32x48" in text
    assert "empty_video: video folder has no frames" in text
    assert sorted(r.name for r in records) == ["synth_0000", "synth_0003", "synth_0004"]


def test_corrupt_frames_are_skipped_or_refused(broken_davis, caplog):
    root, depth_dir = broken_davis
    records, _ = scan_dataset(root)
    opts = ClipOptions(width=W, height=H)
    skip = VOSClipDataset(records, DepthFolder(depth_dir), opts, num_frames=6, on_bad_data="skip")
    bad = [r.name for r in skip.records].index("synth_0003")
    item = skip[bad]  # falls back to another video instead of crashing
    assert item["frames"].shape == (6, 3, H, W)
    assert any("synth_0003/00002.jpg" in p.path for p in skip.problems)
    assert "synth_0003" in caplog.text
    for i in range(len(skip)):  # a whole epoch runs
        skip[i]
    strict = VOSClipDataset(records, DepthFolder(depth_dir), opts, num_frames=6, on_bad_data="error")
    with pytest.raises(BadDataError, match=r"synth_0003/00002\.jpg: not a readable image"):
        strict[bad]


def test_sav_problems_are_reported(tmp_path):
    root = tmp_path / "sav"
    synthetic.write_dataset(root, layout="sav", num_videos=4, num_frames=6, height=H, width=W, as_video=False)
    (root / "synth_0000_manual.json").write_text("{ not json")
    meta = json.loads((root / "synth_0001_manual.json").read_text())
    meta["masklet"][0][0]["size"] = [H + 2, W]
    (root / "synth_0001_manual.json").write_text(json.dumps(meta))
    import shutil

    shutil.rmtree(root / "synth_0002")  # frames gone
    meta = json.loads((root / "synth_0003_manual.json").read_text())
    meta["masklet"][4][1]["counts"] = "zz"  # corrupt RLE, found when read
    (root / "synth_0003_manual.json").write_text(json.dumps(meta))
    records, problems = scan_dataset(root)
    text = "\n".join(str(p) for p in problems)
    assert "synth_0000_manual.json: not readable JSON" in text
    assert "synth_0001_manual.json: masklet size" in text
    assert "synth_0002.mp4: video file (or frame folder) is missing" in text
    assert [r.name for r in records] == ["synth_0003"]
    with pytest.raises(BadDataError, match=r"synth_0003_manual\.json: masklet 1 of annotated frame 4"):
        load_clip(records[0], range(6))
