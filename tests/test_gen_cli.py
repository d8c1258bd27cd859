"""``levitor generate`` end to end on tiny random weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from levitor.cli import main
from levitor.tiny_models import save_tiny_models




@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    return save_tiny_models(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def scene_files(tmp_path, small_scene):
    s = small_scene
    Image.fromarray(s["image"]).save(tmp_path / "image.png")
    Image.fromarray(s["d8"]).save(tmp_path / "d8.png")
    Image.fromarray(s["object_masks"][0].astype(np.uint8) * 255).save(tmp_path / "ball.png")
    for i, m in enumerate(s["static_masks"]):
        Image.fromarray(m.astype(np.uint8) * 255).save(tmp_path / f"static_{i}.png")
    tracks = {"format": "levitor-tracks", "version": 1, "image_size": [48, 64],
              "tracks": [{"points": [[12, 40, 1 / 150], [30, 36, 1 / 200]]}]}
    (tmp_path / "tracks.json").write_text(json.dumps(tracks))
    return [
        "--image", str(tmp_path / "image.png"), "--depth", str(tmp_path / "d8.png"), "--depth-kind", "disparity8",
        "--masks", str(tmp_path / "ball.png"), "--static", str(tmp_path / "static_0.png"),
        str(tmp_path / "static_1.png"), "--tracks", str(tmp_path / "tracks.json"),
    ]


def test_generate_end_to_end(tmp_path, tiny_dirs, scene_files, capsys):
    out = tmp_path / "video.gif"
    args = ["generate", *scene_files, "--frames", "4", "--svd", str(tiny_dirs["svd"]),
            "--controlnet", str(tiny_dirs["controlnet"]), "--out", str(out), "--steps", "2",
            "--frames-dir", str(tmp_path / "frames"), "--device", "cpu"]
    assert main(args) == 0
    gif = Image.open(out)
    assert gif.n_frames == 4 and gif.size == (48, 64)
    pngs = sorted((tmp_path / "frames").glob("*.png"))
    assert len(pngs) == 4
    captured = capsys.readouterr()
    assert "wrote 4 frames (48x64)" in captured.out
    assert "sampling" in captured.err  # tqdm bar

    # the same video from the control maps of `levitor plan`
    assert main(["plan", *scene_files, "--frames", "4", "--out", str(tmp_path / "plan")]) == 0
    out2 = tmp_path / "video2.gif"
    assert main(["generate", "--image", str(tmp_path / "image.png"), "--control", str(tmp_path / "plan" / "control.npy"),
                 "--svd", str(tiny_dirs["svd"]), "--controlnet", str(tiny_dirs["controlnet"]),
                 "--out", str(out2), "--steps", "2", "--frames-dir", str(tmp_path / "frames2"),
                 "--device", "cpu"]) == 0
    a = np.stack([np.asarray(Image.open(p)) for p in pngs])
    b = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / "frames2").glob("*.png"))])
    assert np.array_equal(a, b)


def test_generate_bad_input(tmp_path, tiny_dirs, scene_files, capsys):
    base = ["--svd", str(tiny_dirs["svd"]), "--controlnet", str(tiny_dirs["controlnet"])]
    assert main(["generate", *base, "--out", str(tmp_path / "v.mp4"), "--image", scene_files[1]]) == 2
    assert "missing --depth, --masks, --tracks" in capsys.readouterr().err
    assert main(["generate", *scene_files, *base, "--out", str(tmp_path / "v.avi")]) == 2
    assert ".mp4, .gif or .webp" in capsys.readouterr().err
    assert main(["generate", *scene_files, "--svd", str(tmp_path / "nope"), "--controlnet",
                 str(tiny_dirs["controlnet"]), "--frames", "2", "--out", str(tmp_path / "v.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "v.mp4").exists()
