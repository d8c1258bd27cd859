import numpy as np
import pytest
from PIL import Image

from levitor.io.media import load_depth, load_image, load_mask, read_video, write_frames, write_video


def frames(n=4, h=30, w=41):
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, size=(1, h, w, 3))
    return np.clip(base + np.arange(n)[:, None, None, None] * 20, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ".webp"])
def test_video_round_trip(tmp_path, suffix):
    f = frames()
    path = write_video(f, tmp_path / f"v{suffix}", fps=6)
    back = read_video(path)
    assert back.shape[0] == 4 and back.shape[-1] == 3
    assert back.shape[1] >= 30 and back.shape[2] >= 41  # mp4 pads odd sizes to even
    if suffix == ".gif":
        assert Image.open(path).info["duration"] in (160, 170)  # 6 fps, in GIF centiseconds
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="frames must be"):
        write_video(np.zeros((2, 3)), tmp_path / "x.mp4")
    with pytest.raises(ValueError, match=r"\.mp4, \.gif or \.webp"):
        write_video(frames(), tmp_path / "x.avi")
    assert list(tmp_path.iterdir()) == []


def test_frames_masks_and_images(tmp_path):
    paths = write_frames(frames(3), tmp_path / "f", prefix="p")
    assert [p.name for p in paths] == ["p_0000.png", "p_0001.png", "p_0002.png"]
    assert load_image(paths[0]).shape == (30, 41, 3)
    m = np.zeros((10, 12), np.uint8)
    m[2:5, 3:7] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "m.png"), m > 0)
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 3][2:5, 3:7] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_mask(tmp_path / "a.png"), m > 0)
    with pytest.raises(ValueError, match="not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not a readable image"):
        load_mask(tmp_path / "bad.png")


def test_depth_kinds(tmp_path):
    d8 = np.array([[0, 1, 2], [100, 200, 255]], np.uint8)
    Image.fromarray(d8).save(tmp_path / "d.png")
    np.testing.assert_array_equal(load_depth(tmp_path / "d.png"), [[1, 1, 0.5], [0.01, 0.005, 1 / 255]])
    ref = np.full((2, 3), 0.25)
    np.save(tmp_path / "r.npy", ref)
    np.testing.assert_array_equal(load_depth(tmp_path / "r.npy"), ref)
    disp = np.array([[0.0, 5.0, 10.0]])
    np.save(tmp_path / "disp.npy", disp)
    np.testing.assert_array_equal(load_depth(tmp_path / "disp.npy"), [[1.0, 1 / 127, 1 / 255]])
    with pytest.raises(ValueError, match="depth kind"):
        load_depth(tmp_path / "d.png", "metres")


def test_16_bit_and_float_images_keep_their_tones(tmp_path):
    # a 16-bit grey ramp: 0..65535 must become 0..255 (x / 257), not clip to white
    ramp16 = (np.arange(12 * 16).reshape(12, 16) * 341).astype(np.uint16)
    Image.fromarray(ramp16).save(tmp_path / "g16.png")
    img = load_image(tmp_path / "g16.png")
    assert img.shape == (12, 16, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img[..., 0], np.rint(ramp16 / 257.0).astype(np.uint8))
    assert img.mean() < 200  # the ramp's mean is ~127, not washed out
    # a float image in 0..1
    ramp = np.linspace(0, 1, 12 * 16, dtype=np.float32).reshape(12, 16)
    Image.fromarray(ramp).save(tmp_path / "f.tiff")
    np.testing.assert_array_equal(load_image(tmp_path / "f.tiff")[..., 1], np.rint(ramp * 255).astype(np.uint8))


def test_depth_source_keeps_the_colour_channels(tmp_path):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "c.png")
    depth, source = load_depth(tmp_path / "c.png", with_source=True)
    assert source.shape == (4, 5, 3) and depth.shape == (4, 5)
    # grey value of pure red 200 is round(200 * 0.299) = 60 (PIL's ITU-R 601 luma), read as d8
    np.testing.assert_allclose(depth, 1 / 60)


# --- readers check sizes and types from the header, before decoding ------------------------------

from file_bombs import npz_bomb, peak_of_call, png_bomb  # noqa: E402

from levitor import limits  # noqa: E402
from levitor.io.media import load_array, read_array_header  # noqa: E402

# A refused file may cost the reader its header and a little more, never the decoded array
# (each of the files below decodes to 160 MB or more; the old readers peaked at 3-4 GB).
REFUSAL_MB = 100


@pytest.fixture(scope="module")
def bombs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "png": png_bomb(folder / "big.png", 13000, 13000),
        "png16": png_bomb(folder / "big16.png", 13000, 13000, bit_depth=16),
        "npz": npz_bomb(folder / "big.npz", (13000, 13000)),
        "npy": npz_bomb(folder / "big_in_zip.npy", (13000, 13000)),  # a zip named .npy is read as one
    }


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_bombs_are_small_files_of_huge_images(bombs):
    for path in bombs.values():
        assert path.stat().st_size < 1_000_000
    with Image.open(bombs["png"]) as img:  # Pillow reads the header: 13000 x 13000, 8-bit grey
        assert img.size == (13000, 13000) and img.mode == "L"
    with Image.open(bombs["png16"]) as img:
        assert img.size == (13000, 13000) and img.mode.startswith("I")
    assert np.load(bombs["npz"], mmap_mode=None)["depth"].shape == (13000, 13000)  # a real array


@pytest.mark.parametrize("reader, key", [
    ("load_depth", "png"), ("load_depth", "png16"), ("load_depth", "npz"), ("load_depth", "npy"),
    ("load_image", "png"), ("load_image", "png16"), ("load_mask", "png"), ("read_video", "png"),
])
def test_huge_files_are_refused_from_the_header_without_decoding(bombs, reader, key):
    found = peak_of_call("levitor.io.media", reader, bombs[key])
    assert found["outcome"].startswith("ValueError: ") and "13000" in found["outcome"], found
    assert found["peak_mb"] < found["base_mb"] + REFUSAL_MB, found


def test_the_memory_probe_sees_a_decode(tmp_path):
    """The check above can fail: an 8000 x 8000 PNG (within the limits) is decoded, and its float64
    depth map alone is 512 MB."""
    found = peak_of_call("levitor.io.media", "load_depth", png_bomb(tmp_path / "ok.png", 8000, 8000))
    assert found["outcome"] == "returned", found
    assert found["peak_mb"] > found["base_mb"] + 500, found


def test_pillows_own_bomb_error_is_a_value_error(tmp_path):
    # 20000 x 20000 is above twice Pillow's default pixel limit: Image.open itself raises
    path = png_bomb(tmp_path / "huge.png", 20000, 20000)
    for reader in (load_image, load_mask, load_depth, read_video):
        with pytest.raises(ValueError, match="huge.png"):
            reader(path)


def test_the_largest_readable_size_is_the_limit(tmp_path):
    side = limits.FILE_SIDE.hi
    with pytest.raises(ValueError, match=f"wide.png is {side + 1}x1 pixels; each side must be in \\[1, {side}\\]"):
        load_depth(png_bomb(tmp_path / "wide.png", side + 1, 1))
    assert load_depth(png_bomb(tmp_path / "ok.png", side, 2)).shape == (2, side)


def test_array_headers_are_read_without_the_data(tmp_path, bombs):
    assert read_array_header(bombs["npz"]) == ((13000, 13000), np.dtype(np.uint8))
    np.save(tmp_path / "a.npy", np.arange(6, dtype=np.int16).reshape(2, 3))
    assert read_array_header(tmp_path / "a.npy") == ((2, 3), np.dtype(np.int16))
    shapes = []

    def refuse(shape):
        shapes.append(shape)
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        load_array(bombs["npz"], check_shape=refuse)
    assert shapes == [(13000, 13000)]
    np.testing.assert_array_equal(load_array(tmp_path / "a.npy"), np.arange(6).reshape(2, 3))
    # without a shape check the data size is still bounded (a float64 header of 2 * MAX_ARRAY_BYTES)
    header = {"descr": "<f8", "fortran_order": False, "shape": (2, limits.MAX_ARRAY_BYTES // 8)}
    with open(tmp_path / "big.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)  # the header alone: the data would be 1.8 GB
    with pytest.raises(ValueError, match=f"above the {limits.MAX_ARRAY_BYTES} bytes"):
        load_array(tmp_path / "big.npy")


@pytest.mark.parametrize("array, words", [
    (np.zeros((4, 5), dtype=[("a", "f4"), ("b", "i4")]), "dtype"),  # structured: was a TypeError
    (np.zeros((4, 5), dtype=np.complex64), "dtype"),
    (np.array([["a", "b"], ["c", "d"]]), "dtype"),
    (np.array([[1, None], [2, 3]], dtype=object), "dtype"),  # never unpickled
    (np.full(7, 0.5), "shape (7,)"),  # 1-D: was returned as a 1-D depth map
    (np.full((3, 4, 5, 2), 0.5), "shape (3, 4, 5, 2)"),
    (np.full((3, 4, 2), 0.5), "shape (3, 4, 2)"),
    (np.zeros((0, 4)), "is 4x0 pixels"),
])
@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_depth_arrays_must_be_plain_numeric_maps(tmp_path, array, words, suffix):
    path = tmp_path / f"d{suffix}"
    if suffix == ".npy":
        np.save(path, array, allow_pickle=True)
    else:
        np.savez(path, depth=array)
    with pytest.raises(ValueError, match=f"depth {path}.*" + words.replace("(", r"\(").replace(")", r"\)")):
        load_depth(path)


@pytest.mark.parametrize("content", [b"", b"\x93NUMPY", b"PK\x03\x04 not a zip", b"plain text",
                                     b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'}     \n"])
def test_broken_array_files_are_value_errors(tmp_path, content):
    for suffix in (".npy", ".npz"):
        path = tmp_path / f"d{suffix}"
        path.write_bytes(content)
        with pytest.raises(ValueError, match="not a readable .npy/.npz array"):
            load_depth(path)


def test_an_array_shorter_than_its_header_is_a_value_error(tmp_path):
    np.save(tmp_path / "d.npy", np.full((20, 30), 0.5))
    data = (tmp_path / "d.npy").read_bytes()
    (tmp_path / "d.npy").write_bytes(data[:-100])
    with pytest.raises(ValueError, match="not a readable"):
        load_depth(tmp_path / "d.npy")


def test_every_image_mode_gives_an_h_w_depth_map(tmp_path):
    rgb = np.zeros((6, 7, 3), np.uint8)
    rgb[..., 0] = 200
    for mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBA", "LA", "P", "1", "I", "F", "I;16"):
        img = Image.fromarray(rgb).convert(mode) if mode not in ("I", "F", "I;16") else \
            Image.fromarray(rgb).convert("L").convert(mode)
        path = tmp_path / f"d_{mode.replace(';', '')}.{'tiff' if mode in ('CMYK', 'LAB', 'HSV', 'YCbCr', 'F') else 'png'}"
        try:
            img.save(path)
        except OSError:  # a mode this format cannot store
            continue
        try:
            depth, source = load_depth(path, with_source=True)
        except ValueError as exc:  # only a mode Pillow cannot turn into grey (LAB), named as such
            assert f"is a {mode} image" in str(exc) and mode == "LAB", exc
            continue
        assert depth.shape == (6, 7), (mode, depth.shape)
        assert source.shape[:2] == (6, 7) and source.ndim in (2, 3) and (source.ndim == 2 or source.shape[-1] == 3)


def test_cmyk_depth_is_read_as_its_grey(tmp_path):
    grey = np.tile(np.arange(0, 250, 25, dtype=np.uint8), (4, 1))
    Image.fromarray(grey).convert("CMYK").save(tmp_path / "c.jpg", quality=100)
    Image.fromarray(grey).convert("CMYK").save(tmp_path / "c.tiff")
    depth = load_depth(tmp_path / "c.tiff", "disparity8")
    expected = np.asarray(Image.fromarray(grey).convert("CMYK").convert("L"))  # Pillow's own CMYK -> L
    np.testing.assert_array_equal(depth, np.where(expected == 0, 1.0, 1.0 / np.maximum(expected, 1)))
    assert load_depth(tmp_path / "c.jpg").shape == (4, 10)


# --- read_video: only ValueError, and a bounded number of frames ----------------------------------

@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png", ".mp4"])
@pytest.mark.parametrize("content", [b"", b"GIF89a", b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_read_video_of_unreadable_files_is_a_value_error(tmp_path, suffix, content):
    path = tmp_path / f"v{suffix}"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="v" + suffix.replace(".", r"\.")):
        read_video(path)


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".mp4"])
def test_read_video_of_a_truncated_file_is_a_value_error(tmp_path, suffix):
    path = write_video(frames(6, 40, 50), tmp_path / f"v{suffix}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    try:
        back = read_video(path)
    except ValueError:
        return
    assert 1 <= len(back) < 6  # a decoder may give the frames before the cut


def test_read_video_refuses_more_frames_than_the_limit(tmp_path):
    n = limits.MAX_VIDEO_FRAMES + 1
    tiles = np.zeros((n, 2, 2, 3), np.uint8)
    tiles[1::2] = 255  # alternating, so the GIF writer keeps every frame
    Image.fromarray(tiles[0]).save(tmp_path / "long.gif", save_all=True,
                                   append_images=[Image.fromarray(t) for t in tiles[1:]], duration=20)
    with Image.open(tmp_path / "long.gif") as gif:
        assert gif.n_frames == n
    with pytest.raises(ValueError, match=f"more than {limits.MAX_VIDEO_FRAMES} frames"):
        read_video(tmp_path / "long.gif")
    ok = write_video(np.repeat(tiles[:4], 4, axis=1), tmp_path / "short.gif")
    assert read_video(ok).shape == (4, 8, 2, 3)


def test_read_video_refuses_too_many_frame_pixels_from_the_header(tmp_path, monkeypatch):
    path = write_video(frames(5, 40, 50), tmp_path / "v.webp")
    monkeypatch.setattr(limits, "MAX_VIDEO_PIXELS", 4 * 40 * 50)
    with pytest.raises(ValueError, match="5 frames of 50x40"):
        read_video(path)
    mp4 = write_video(frames(5, 40, 50), tmp_path / "v.mp4")
    with pytest.raises(ValueError, match="frame pixels"):
        read_video(mp4)


def test_long_and_empty_names_are_value_errors(tmp_path):
    for reader in (load_image, load_mask, load_depth, read_video):
        with pytest.raises(ValueError, match="above the 255"):
            reader(tmp_path / ("x" * 300 + ".png"))
        with pytest.raises(ValueError, match="must name a file"):
            reader("")
        with pytest.raises(ValueError, match="NUL"):
            reader("a\0b.png")
