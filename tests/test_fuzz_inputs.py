"""Random inputs to every user-facing reader and to the planner: only the documented errors.

The readers (tracks JSON, KJNodes ``coord_str``, SAM point prompts), ``build_plan`` and the preview
route's request handler get random JSON documents, random text, extreme numbers (309-digit
integers, 1e-320, NaN, infinities, deep nesting) and random small scenes. A ``ValueError``
(``PreviewError`` is one; the route answers it 400) is the documented outcome; anything else
fails. The runs are derandomized (the same examples every time); ``-m slow`` runs many more.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.comfy_host import fake_host, pack  # noqa: F401  (fixtures)
from levitor.perception.segmentation import parse_points
from levitor.planning.plan import build_plan
from levitor.planning.tracks import parse_coord_str, parse_tracks

FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=1500, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

EXTREME_NUMBERS = st.sampled_from([0, -0.0, 1, -1, 0.5, 1.0, 1e-4, 1e-19, 1e-45, 1e-320, 5e-324, 3e307, 1e308,
                                   10 ** 309, -(10 ** 309), 2 ** 63 - 1, 2 ** 64, float("nan"), float("inf"),
                                   -float("inf"), 255, 256, 4096, 8193])
NUMBERS = st.one_of(EXTREME_NUMBERS, st.integers(-10 ** 6, 10 ** 6), st.floats(allow_nan=True, allow_infinity=True))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=6))
KEYS = st.sampled_from(["x", "y", "depth", "d", "label", "points", "tracks", "format", "version", "image_size",
                        "objects", "name", "node_id", "num_frames", "frame"])


def json_values(depth=4):
    return st.recursive(SCALARS, lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(KEYS, inner, max_size=5)), max_leaves=25)


POINT = st.one_of(st.lists(NUMBERS, min_size=0, max_size=4), st.fixed_dictionaries(
    {"x": NUMBERS, "y": NUMBERS}, optional={"depth": NUMBERS, "label": NUMBERS}), json_values())
TRACKS_DOC = st.one_of(
    st.lists(st.lists(POINT, max_size=4), max_size=3),
    st.fixed_dictionaries({"tracks": st.lists(st.one_of(st.lists(POINT, max_size=4),
                                                        st.fixed_dictionaries({"points": st.lists(POINT, max_size=4)})),
                                              max_size=3)},
                          optional={"format": st.sampled_from(["levitor-tracks", "x", 1]),
                                    "version": st.sampled_from([1, 2, True, "1", 1.0]),
                                    "image_size": st.one_of(st.lists(NUMBERS, max_size=3), json_values())}),
    json_values())


def _text(doc) -> str:
    try:
        return json.dumps(doc)
    except (ValueError, OverflowError):  # json refuses some values; their text is still input
        return repr(doc)


TEXTS = st.one_of(TRACKS_DOC.map(_text), st.text(max_size=40),
                  st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
                  st.integers(1, 3000).map(lambda n: '{"tracks": ' + "[" * n + "1" + "]" * n + "}"))


def _documented(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ValueError:
        return None


def _tracks_parser(data):
    _documented(parse_tracks, data, image_size=(64, 48))
    _documented(parse_tracks, data)


def _coord_parser(data, depths):
    _documented(parse_coord_str, data, depths)


def _points_parser(data, negative):
    _documented(parse_points, data, image_size=(64, 48), negative=negative)


@FAST
@given(st.one_of(TRACKS_DOC, TEXTS))
def test_tracks_parser(data):
    _tracks_parser(data)


@FAST
@given(st.one_of(json_values(), TEXTS, st.lists(st.lists(POINT, max_size=3), max_size=3)),
       st.one_of(NUMBERS, json_values(), st.text(max_size=10)))
def test_coord_str_parser(data, depths):
    _coord_parser(data, depths)


@FAST
@given(st.one_of(TRACKS_DOC, TEXTS, st.fixed_dictionaries({"points": st.lists(POINT, max_size=4)},
                                                          optional={"image_size": st.lists(NUMBERS, max_size=3)})),
       st.one_of(st.none(), TEXTS, json_values()))
def test_points_parser(data, negative):
    _points_parser(data, negative)


@st.composite
def plans(draw):
    h = draw(st.integers(8, 32))
    w = draw(st.integers(8, 32))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    n_obj = draw(st.integers(1, 2))
    masks = []
    for _ in range(n_obj):
        r0, c0 = rng.integers(0, h - 2), rng.integers(0, w - 2)
        m = np.zeros((h, w), bool)
        m[r0:r0 + rng.integers(2, h - r0 + 1), c0:c0 + rng.integers(2, w - c0 + 1)] = True
        masks.append(m)
    d8 = rng.integers(0, 256, size=(h, w))
    depth = np.where(d8 < 2, 1.0, 1.0 / np.maximum(d8, 1))
    if draw(st.booleans()):
        depth = np.full((h, w), draw(st.sampled_from([1.0, 0.5, 1 / 255, 1e-4])))
    coord = st.one_of(st.floats(-2 * w, 3 * w), EXTREME_NUMBERS)
    dep = st.one_of(st.floats(1e-4, 1.0), EXTREME_NUMBERS)
    tracks = draw(st.one_of(
        st.lists(st.lists(st.tuples(coord, coord, dep), min_size=1, max_size=3), min_size=n_obj, max_size=n_obj),
        TRACKS_DOC))
    options = draw(st.fixed_dictionaries({}, optional={
        "num_frames": st.one_of(st.integers(1, 6), EXTREME_NUMBERS),
        "ratio": st.one_of(st.sampled_from([0.3, 1.0, 2.0]), EXTREME_NUMBERS),
        "base_radius": st.one_of(st.sampled_from([0.011, 0.05, 0.2]), EXTREME_NUMBERS),
        "points_per_pixel": st.one_of(st.integers(1, 12), EXTREME_NUMBERS),
        "radius": st.one_of(st.integers(1, 12), EXTREME_NUMBERS),
        "strict_depth_test": st.booleans(),
    }))
    options.setdefault("num_frames", 3)
    return rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8), depth, masks, tracks, options


def _plan(case):
    image, depth, masks, tracks, options = case
    plan = _documented(build_plan, image, depth, masks, [], tracks, **options)
    if plan is not None:
        h, w = depth.shape
        assert plan.labels.shape[1:] == (h, w) and plan.control.shape[1:] == (3, h, w)
        assert np.all(np.isfinite(plan.control))


@FAST
@given(plans())
def test_build_plan(case):
    _plan(case)


def _route(pack):
    return pack.nodes.preview_route


def _scene():
    from levitor.planning.scene import make_scene

    h, w = 24, 32
    mask = np.zeros((h, w), bool)
    mask[8:16, 4:12] = True
    d8 = np.full((h, w), 30)
    d8[mask] = 90
    return make_scene(np.zeros((h, w, 3), np.uint8), 1.0 / d8, [mask])


BODIES = st.one_of(
    st.fixed_dictionaries({"node_id": st.one_of(st.just("7"), json_values()), "tracks": st.one_of(TRACKS_DOC, TEXTS)},
                          optional={"num_frames": st.one_of(st.integers(1, 8), NUMBERS, json_values()),
                                    "frame": st.one_of(st.integers(0, 8), NUMBERS, json_values())}),
    json_values(), TEXTS)


def _handle(route, body):
    payload = body if isinstance(body, str) else _text(body)
    status, ctype, out = route.handle_preview(payload)
    assert status in (200, 400), (status, out)
    if status == 400:
        assert ctype == "application/json" and "field" in json.loads(out)


@pytest.fixture
def route(pack):
    route = _route(pack)
    route.scene_cache.forget_all()
    route.scene_cache.remember_scene("7", _scene())
    yield route
    route.scene_cache.forget_all()


@FAST
@given(body=BODIES)
def test_preview_route_handler(route, body):
    _handle(route, body)


@pytest.mark.slow
@SLOW
@given(st.one_of(TRACKS_DOC, TEXTS), st.one_of(NUMBERS, json_values()), st.one_of(st.none(), TEXTS))
def test_readers_many_examples(data, depths, negative):
    _tracks_parser(data)
    _coord_parser(data, depths)
    _points_parser(data, negative)


@pytest.mark.slow
@settings(SLOW, max_examples=400)
@given(plans())
def test_build_plan_many_examples(case):
    _plan(case)


@pytest.mark.slow
@SLOW
@given(body=BODIES)
def test_preview_route_handler_many_examples(route, body):
    _handle(route, body)


# --- files: random and damaged images, arrays and videos to every reader ---------------------------

def _valid_files() -> dict[str, bytes]:
    """Small valid files of every format the readers take, as bytes."""
    import io
    import tempfile
    from pathlib import Path

    from PIL import Image

    from levitor.io.media import write_video

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(6, 8, 3)).astype(np.uint8)
    grey = rgb[..., 0]
    images = {"RGB.png": (Image.fromarray(rgb), "png"), "L.png": (Image.fromarray(grey), "png"),
              "I16.png": (Image.fromarray(grey.astype(np.uint16) * 257), "png"),
              "F.tiff": (Image.fromarray(grey.astype(np.float32) / 255), "tiff"),
              "RGB.jpeg": (Image.fromarray(rgb), "jpeg"), "CMYK.jpeg": (Image.fromarray(rgb).convert("CMYK"), "jpeg")}
    out = {}
    for name, (img, fmt) in images.items():
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        out[name] = buf.getvalue()
    for name, arr in (("ref", np.full((6, 8), 0.5)), ("disp", rng.random((6, 8)).astype(np.float32))):
        buf = io.BytesIO()
        np.save(buf, arr)
        out[f"{name}.npy"] = buf.getvalue()
        buf = io.BytesIO()
        np.savez_compressed(buf, depth=arr)
        out[f"{name}.npz"] = buf.getvalue()
    with tempfile.TemporaryDirectory() as d:
        frames = np.stack([rgb, rgb[::-1], rgb[:, ::-1]])
        for suffix in (".gif", ".webp", ".mp4"):
            out[f"video{suffix}"] = write_video(frames, Path(d) / f"v{suffix}", fps=4).read_bytes()
    return out


VALID_FILES = _valid_files()
SUFFIXES = [".png", ".jpg", ".tiff", ".npy", ".npz", ".gif", ".webp", ".mp4", ".bin"]


@st.composite
def damaged_files(draw):
    """``(suffix, bytes)``: a valid file with bytes flipped, cut or inserted, or random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(SUFFIXES)), draw(st.binary(max_size=200))
    name = draw(st.sampled_from(sorted(VALID_FILES)))
    data = bytearray(VALID_FILES[name])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif data:
            data[at:at + 4] = bytes(len(data[at:at + 4]))
    suffix = "." + name.rsplit(".", 1)[1].replace("jpeg", "jpg")
    if draw(st.integers(0, 5)) == 0:
        suffix = draw(st.sampled_from(SUFFIXES))  # the wrong suffix for the content
    return suffix, bytes(data)


def _read_file(folder, suffix: str, data: bytes) -> None:
    from levitor.io.media import load_depth, load_image, load_mask, read_video

    path = folder / f"f{suffix}"
    path.write_bytes(data)
    for reader in (load_image, load_mask, read_video, lambda p: load_depth(p, with_source=True),
                   lambda p: load_depth(p, "reference"), lambda p: load_depth(p, "disparity8")):
        result = _documented(reader, path)
        if result is None or reader is read_video:
            if result is not None:
                assert result.ndim == 4 and result.shape[-1] == 3 and result.dtype == np.uint8
            continue
        arr = result[0] if isinstance(result, tuple) else result
        if reader is load_image:
            assert arr.ndim == 3 and arr.shape[-1] == 3 and arr.dtype == np.uint8
        elif reader is load_mask:
            assert arr.ndim == 2 and arr.dtype == bool
        else:  # every depth map is (H, W)
            assert arr.ndim == 2, arr.shape


def test_the_valid_files_are_read():
    """The damaged files below start from files every reader takes."""
    import tempfile
    from pathlib import Path

    from levitor.io.media import load_depth, read_video

    with tempfile.TemporaryDirectory() as d:
        for name, data in VALID_FILES.items():
            path = Path(d) / name
            path.write_bytes(data)
            if name.startswith("video"):
                assert read_video(path).shape[0] == 3
            else:
                assert load_depth(path).shape == (6, 8)


@FAST
@given(damaged_files())
def test_file_readers(tmp_path, case):
    _read_file(tmp_path, *case)


@pytest.mark.slow
@settings(SLOW, max_examples=600)
@given(damaged_files())
def test_file_readers_many_examples(tmp_path, case):
    _read_file(tmp_path, *case)


# --- the command line: random arguments exit 0 or 2 with one line, never a traceback -------------

FLAG_VALUES = {
    "--frames": st.one_of(st.sampled_from(["0", "1", "2", "129", "-1", "1e9", "nan", "2.5", "", "x"]),
                          st.integers(-5, 200).map(str)),
    "--ratio": st.sampled_from(["0", "0.5", "inf", "-inf", "1e999", "nan", "", "1" * 400]),
    "--radius": st.sampled_from(["0", "5", "65", "1.5", "ten"]),
    "--fps": st.sampled_from(["0", "6", "61", "-6", "6.5", ""]),
    "--resize": st.sampled_from(["fit", "64x48", "63x48", "0x0", "99999x8", "x", "", "8x8"]),
    "--depth-kind": st.sampled_from(["auto", "reference", "metres", ""]),
    "--format": st.sampled_from(["gif", "mp4", "avi", ""]),
    "--device": st.sampled_from(["cpu", "gpu", "", "cuda:99", "meta:0", "cpu:0"]),
    "--camera": st.sampled_from(["", "FILE", "MISSING", "LONG"]),
}
FILE_FLAGS = ("--image", "--depth", "--masks", "--static", "--tracks")


@st.composite
def command_lines(draw):
    args = ["plan"]
    for flag in FILE_FLAGS:
        if draw(st.integers(0, 5)):
            args += [flag, draw(st.sampled_from(["FILE", "MISSING", "LONG", "", "DIR"]))]
    for flag in draw(st.lists(st.sampled_from(sorted(FLAG_VALUES)), max_size=4, unique=True)):
        args += [flag, draw(FLAG_VALUES[flag])]
    if draw(st.integers(0, 5)):
        args += ["--out", draw(st.sampled_from(["OUT", "LONG", "", "FILE"]))]
    if draw(st.integers(0, 8)) == 0:
        args.insert(draw(st.integers(0, len(args))), draw(st.sampled_from(["--crop", "--no-id", "--bogus", "-x"])))
    return args, draw(damaged_files())


def _run_command(tmp_path, capsys, case):
    from cli_helpers import run_cli

    args, (suffix, data) = case
    bad = tmp_path / f"f{suffix}"
    bad.write_bytes(data)
    names = {"FILE": str(bad), "MISSING": str(tmp_path / "missing.png"), "LONG": str(tmp_path / ("n" * 300)),
             "DIR": str(tmp_path), "OUT": str(tmp_path / "out")}
    argv = [names.get(a, a) for a in args]
    capsys.readouterr()
    rc = run_cli(argv)
    err = capsys.readouterr().err
    assert rc == 2, (argv, rc, err)  # every scene file here is damaged or missing: never a plan, never exit 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("levitor"), err


@FAST
@given(command_lines())
def test_command_line(tmp_path, capsys, case):
    _run_command(tmp_path, capsys, case)
