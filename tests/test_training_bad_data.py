"""Damaged training data: the RLE decoder and the dataset readers raise only their documented
errors (RLEError / BadDataError), and a scan never stops at one bad file.

Property tests run a bounded number of examples with a fixed seed; ``-m slow`` runs many more.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levitor.training import synthetic
from levitor.training.datasets import BadDataError, load_clip, scan_dataset
from levitor.training.rle import MAX_PIXELS, RLEError, rle_decode, rle_encode

FAST = settings(max_examples=300, derandomize=True, deadline=None, database=None)
SLOW = settings(max_examples=5000, derandomize=True, deadline=None, database=None)


def reference_decode(size, counts):
    """The mask a list-of-runs RLE stands for, or None where it is not a valid one (written
    independently of the library: one pixel at a time)."""
    if not (isinstance(size, list) and len(size) == 2 and all(type(v) is int for v in size)):
        return None
    h, w = size
    if h < 0 or w < 0 or h * w > MAX_PIXELS or not all(type(c) is int and c >= 0 for c in counts):
        return None
    if sum(counts) != h * w:
        return None
    flat = []
    for i, c in enumerate(counts):
        flat += [i % 2 == 1] * c
    return np.array(flat, dtype=bool).reshape(w, h).T if h * w else np.zeros((h, w), bool)


ANY_NUMBER = st.one_of(st.integers(-3, 40), st.integers(-2 ** 80, 2 ** 80), st.just(2 ** 63 - 1),
                       st.floats(allow_nan=True, allow_infinity=True), st.booleans())
JUNK = st.one_of(st.none(), st.text(max_size=4), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
SIZES = st.one_of(st.lists(st.integers(0, 12), min_size=2, max_size=2), st.lists(ANY_NUMBER | JUNK, max_size=3),
                  ANY_NUMBER, JUNK, st.just([100000, 100000]))
COUNTS = st.one_of(st.lists(st.integers(0, 40), max_size=12), st.lists(ANY_NUMBER | JUNK, max_size=8),
                   st.text(max_size=30),
                   st.text(alphabet=st.characters(min_codepoint=40, max_codepoint=120), max_size=40),
                   st.binary(max_size=20), ANY_NUMBER, JUNK)


def _decode_or_rle_error(rle):
    """rle_decode's result, or None for an RLEError; any other exception fails the test."""
    try:
        mask = rle_decode(rle)
    except RLEError:
        return None
    h, w = (int(v) for v in rle["size"])
    assert mask.dtype == bool and mask.shape == (h, w)
    return mask


def _check_decoder(rle):
    mask = _decode_or_rle_error(rle)
    if isinstance(rle, dict) and isinstance(rle.get("counts"), list):
        expected = reference_decode(rle.get("size"), rle["counts"])
        if expected is None:  # not a valid list RLE: integral floats may still decode, nothing else
            assert mask is None or all(isinstance(v, (int, float)) for v in rle["size"] + rle["counts"])
        else:
            assert mask is not None and np.array_equal(mask, expected)
    elif mask is not None:  # a string RLE that decodes: its canonical encoding decodes to the same mask
        assert np.array_equal(rle_decode(rle_encode(mask)), mask)


@FAST
@given(st.one_of(st.fixed_dictionaries({"size": SIZES, "counts": COUNTS}), JUNK, st.lists(st.integers(), max_size=2)))
def test_rle_decoder_raises_only_rle_errors(rle):
    _check_decoder(rle)


@pytest.mark.slow
@SLOW
@given(st.one_of(st.fixed_dictionaries({"size": SIZES, "counts": COUNTS}), JUNK))
def test_rle_decoder_raises_only_rle_errors_many(rle):
    _check_decoder(rle)


@FAST
@given(st.integers(0, 9), st.integers(0, 9), st.data())
def test_rle_round_trips_and_damaged_runs_are_refused(h, w, data):
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w)), dtype=bool).reshape(h, w)
    for compressed in (True, False):
        rle = rle_encode(mask, compressed=compressed)
        assert np.array_equal(rle_decode(rle), mask)
    runs = rle_encode(mask, compressed=False)["counts"]
    k = data.draw(st.integers(0, len(runs) - 1))
    runs[k] += data.draw(st.sampled_from([1, 2 ** 63 - 1, 2 ** 64, 10 ** 30, -1 - runs[k]]))
    with pytest.raises(RLEError):
        rle_decode({"size": [h, w], "counts": runs})


@pytest.mark.parametrize("rle, message", [
    ({"size": [1, 1], "counts": [2 ** 63 - 1, 2 ** 63 - 1, 3]}, "cover more than"),  # int64 sum would wrap
    ({"size": [1, 1], "counts": [10 ** 30]}, "cover more than"),
    ({"size": [100000, 100000], "counts": [10 ** 10]}, "exceeds"),  # refused before any allocation
    ({"size": ["a", 8], "counts": [8]}, "must be an integer"),
    ({"size": "12", "counts": [2]}, r"must be \[height, width\]"),
    ({"size": [2, 2], "counts": [1.5, 2.5]}, "must be an integer"),
    ({"size": [2, 2], "counts": "0" + "\x7f" * 3}, "invalid character"),
    ({"size": [2, 2], "counts": "o" * 100}, "longer than"),  # continuation characters without end
])
def test_rle_errors_name_the_problem(rle, message):
    with pytest.raises(RLEError, match=message):
        rle_decode(rle)


def test_rle_size_is_checked_against_the_frame_before_decoding():
    rle = rle_encode(np.ones((4, 3), bool))
    with pytest.raises(RLEError, match="3x4 but the frame is 5x4"):
        rle_decode(rle, shape=(4, 5))
    assert rle_decode(rle, shape=(4, 3)).all()


# ------------------------------------------------------------------------ dataset readers

H, W, F = 16, 16, 4


def _sav_dataset(root: Path) -> dict:
    """Two SA-V videos (frame folders); returns the second one's JSON for damaging."""
    synthetic.write_dataset(root, layout="sav", num_videos=2, num_frames=F, height=H, width=W, as_video=False,
                            num_objects=2)
    return json.loads((root / "synth_0001_manual.json").read_text())


@pytest.fixture(scope="module")
def good_meta(tmp_path_factory):
    return _sav_dataset(tmp_path_factory.mktemp("sav"))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=True) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["size", "counts", "x"]), inner,
                                                                max_size=3),
    max_leaves=8)
PLACES = st.sampled_from([("masklet",), ("masklet", 0), ("masklet", 1, 0), ("masklet", 2, 1, "size"),
                          ("masklet", 0, 0, "size", 0), ("masklet", 3, 1, "counts"), ("masklet", 1, 1, "size", 1),
                          ("video_frame_count",), ("video_height",), ("video_width",), ()])


def _damage(meta: dict, place: tuple, value):
    """``meta`` with the value at ``place`` (a key path) replaced; ``()`` replaces the whole file."""
    if not place:
        return value
    meta = copy.deepcopy(meta)
    node = meta
    for key in place[:-1]:
        node = node[key]
    node[place[-1]] = value
    return meta


def _scan_and_read(root: Path, text: str) -> None:
    (root / "synth_0001_manual.json").write_text(text)
    records, problems = scan_dataset(root)  # never raises for one bad file
    names = [r.name for r in records]
    assert "synth_0000" in names  # the good video stays
    if "synth_0001" in names:
        rec = records[names.index("synth_0001")]
        try:
            frames, labels = load_clip(rec, range(rec.num_annotated))
        except BadDataError as exc:
            assert "synth_0001" in exc.path
        else:
            assert labels.shape == frames.shape[:3]
    else:
        assert len(problems) == 1 and "synth_0001" in problems[0].path, problems


def _check_damaged(good_meta, place, value, cut):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _sav_dataset(root)
        if cut is None:
            text = json.dumps(_damage(good_meta, place, value))
        else:
            full = json.dumps(good_meta)
            text = full[: int(cut * len(full))]
        _scan_and_read(root, text)


@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(PLACES, JSON_VALUES, st.one_of(st.none(), st.floats(0, 1)))
def test_a_damaged_masklet_file_skips_only_its_video(good_meta, place, value, cut):
    _check_damaged(good_meta, place, value, cut)


@pytest.mark.slow
@settings(max_examples=1500, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(PLACES, JSON_VALUES, st.one_of(st.none(), st.floats(0, 1)))
def test_a_damaged_masklet_file_skips_only_its_video_many(good_meta, place, value, cut):
    _check_damaged(good_meta, place, value, cut)


@pytest.mark.parametrize("damage, message", [
    (lambda m: m["masklet"][0][0].update(size=["a", 8]), "must be an integer"),
    (lambda m: m["masklet"].__setitem__(1, 7), "annotated frame 1 is not a list"),
    (lambda m: m["masklet"][0][0].update(size=[100000, 100000]), "exceeds"),
    (lambda m: m.update(video_frame_count="1e400"), None),  # unreadable count: the video is counted instead
])
def test_sav_scan_reports_malformed_masklets_per_video(tmp_path, good_meta, damage, message):
    _sav_dataset(tmp_path)
    meta = copy.deepcopy(good_meta)
    damage(meta)
    (tmp_path / "synth_0001_manual.json").write_text(json.dumps(meta))
    records, problems = scan_dataset(tmp_path)
    if message is None:
        assert problems == [] and [r.num_annotated for r in records] == [F, F]
    else:
        assert [r.name for r in records] == ["synth_0000"]
        assert len(problems) == 1 and problems[0].path.endswith("synth_0001_manual.json")
        assert message in problems[0].message


def test_runs_that_overflow_at_read_time_skip_the_video(tmp_path, good_meta):
    """A run of 10**30 (OverflowError in int64) or a wrapping int64 sum found when a clip is read."""
    from levitor.training.clip_dataset import VOSClipDataset
    from levitor.training.clips import ClipOptions, DepthFolder

    _sav_dataset(tmp_path)
    depth = tmp_path / "depth"
    for name in ("synth_0000", "synth_0001"):
        (depth / name).mkdir(parents=True)
        for t in range(F):
            np.save(depth / name / f"{t:05d}.npy", np.ones((H, W), np.float32))
    meta = copy.deepcopy(good_meta)
    meta["masklet"][2][0]["counts"] = [10 ** 30, 2 ** 63 - 1, 2 ** 63 - 1]
    (tmp_path / "synth_0001_manual.json").write_text(json.dumps(meta))
    records, problems = scan_dataset(tmp_path)
    assert problems == [] and len(records) == 2  # the scan reads sizes only
    ds = VOSClipDataset(records, DepthFolder(depth), ClipOptions(width=W, height=H), num_frames=F)
    for i in range(2):
        assert ds[i]["frames"].shape == (F, 3, H, W)  # the bad video is replaced by the good one
    assert len(ds.problems) == 1 and "synth_0001_manual.json" in ds.problems[0].path
    assert "masklet 0 of annotated frame 2" in ds.problems[0].message


def test_deeply_nested_json_is_a_problem_not_a_crash(tmp_path):
    _sav_dataset(tmp_path)
    (tmp_path / "synth_0001_manual.json").write_text("[" * 200000 + "]" * 200000)
    records, problems = scan_dataset(tmp_path)
    assert [r.name for r in records] == ["synth_0000"]
    assert "not readable JSON" in problems[0].message


def test_davis_scan_goes_on_past_damaged_videos(tmp_path):
    root = tmp_path / "davis"
    synthetic.write_dataset(root, layout="davis", num_videos=3, num_frames=F, height=H, width=W, num_objects=1)
    (root / "Annotations" / "synth_0000" / "00000.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    import shutil

    shutil.rmtree(root / "Annotations" / "synth_0001")
    (root / "Annotations" / "synth_0001").write_text("a file where the folder should be")
    records, problems = scan_dataset(root)
    assert [r.name for r in records] == ["synth_0002"]
    text = "\n".join(map(str, problems))
    assert "synth_0000/00000.png: not a readable image" in text
    assert "synth_0001: annotation folder is missing" in text


def test_huge_frames_and_annotations_are_refused_from_the_header(tmp_path):
    from file_bombs import peak_of_call, png_bomb

    big = png_bomb(tmp_path / "00000.png", 13000, 13000)
    for function in ("_read_rgb", "_read_annotation"):
        found = peak_of_call("levitor.training.datasets", function, big)
        assert found["outcome"].startswith("ValueError: ") and "13000x13000" in found["outcome"], found
        assert found["peak_mb"] < found["base_mb"] + 100, found
