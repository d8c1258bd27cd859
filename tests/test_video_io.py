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
