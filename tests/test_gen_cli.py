"""``levitor generate`` end to end on tiny random weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cli_helpers import one_line_error, run_cli
from levitor.cli import main
from levitor.generation.tiny import save_tiny_models


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
    assert one_line_error(capsys) == ("levitor generate: error: missing --depth, --masks, --tracks: give the scene "
                                      "to plan, --demo, or --image with --control control.npy")
    assert main(["generate", *scene_files, *base, "--out", str(tmp_path / "v.avi")]) == 2
    assert one_line_error(capsys) == "levitor generate: error: --out must end in .mp4, .gif or .webp, got v.avi"
    assert main(["generate", *scene_files, "--svd", str(tmp_path / "nope"), "--controlnet",
                 str(tiny_dirs["controlnet"]), "--frames", "2", "--out", str(tmp_path / "v.mp4")]) == 2
    assert one_line_error(capsys) == (f"levitor generate: error: --svd {tmp_path / 'nope'} does not exist; pass the "
                                      "stable-video-diffusion-img2vid-xt folder (the one holding model_index.json)")
    assert not (tmp_path / "v.mp4").exists()


@pytest.fixture
def no_planning(monkeypatch):
    """Fail the test if planning starts: every check must come before it."""
    import levitor.cli.scene as scene

    def boom(*a, **k):
        raise AssertionError("planning started before the inputs were checked")

    monkeypatch.setattr(scene, "plan_inputs", boom)


def test_generate_checks_settings_before_planning(tmp_path, tiny_dirs, scene_files, capsys, no_planning):
    out = tmp_path / "v.mp4"
    base = ["generate", *scene_files, "--svd", str(tiny_dirs["svd"]), "--controlnet", str(tiny_dirs["controlnet"]),
            "--out", str(out)]
    cases = {
        ("--fps", "0"): "--fps must be in [1, 60] (frame rate SVD is conditioned on), got 0",
        ("--steps", "0"): "--steps must be in [1, 200] (denoising steps (reference 25)), got 0",
        ("--max-guidance", "inf"): "--max-guidance must be a finite number in [0, 20] (classifier-free guidance "
                                   "scale), got inf",
        ("--motion-bucket", "300"): "--motion-bucket must be in [1, 255] (SVD motion bucket (reference 100)), got 300",
        ("--noise-aug", "-1"): "--noise-aug must be in [0, 1] (noise added to the conditioning image), got -1.0",
    }
    for (flag, value), message in cases.items():
        assert run_cli([*base, flag, value]) == 2
        assert one_line_error(capsys) == f"levitor generate: error: {message} (see levitor generate --help)"
    assert main([*base, "--controlnet", str(tmp_path / "missing_cn")]) == 2
    assert one_line_error(capsys) == (
        f"levitor generate: error: --controlnet {tmp_path / 'missing_cn'} does not exist; pass the LeviTor "
        "controlnet/ folder (config.json + diffusion_pytorch_model.safetensors) or a .safetensors file")
    assert main([*base, "--min-guidance", "4"]) == 2
    assert one_line_error(capsys) == "levitor generate: error: --min-guidance 4 is above --max-guidance 3"
    assert not out.exists()


def write_scene(folder, w, h):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 100, np.uint8)).save(folder / "img.png")
    Image.fromarray(np.tile(np.linspace(20, 200, h)[:, None], (1, w)).astype(np.uint8)).save(folder / "d.png")
    m = np.zeros((h, w), np.uint8)
    m[h // 3: h // 2, w // 3: w // 2] = 255
    Image.fromarray(m).save(folder / "m.png")
    (folder / "t.json").write_text(json.dumps({"tracks": [[[w * 0.4, h * 0.4, 0.01], [w * 0.6, h * 0.5, 0.008]]]}))
    return ["--image", str(folder / "img.png"), "--depth", str(folder / "d.png"), "--masks", str(folder / "m.png"),
            "--tracks", str(folder / "t.json")]


def test_sizes_not_multiple_of_8_get_an_offer(tmp_path, tiny_dirs, capsys):
    scene = write_scene(tmp_path / "s", 50, 66)
    base = ["generate", *scene, "--svd", str(tiny_dirs["svd"]), "--controlnet", str(tiny_dirs["controlnet"]),
            "--frames", "2", "--steps", "1", "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "v.gif")]) == 2
    assert one_line_error(capsys) == (
        "levitor generate: error: --image is 50x66: SVD needs width and height that are multiples of 8; pass "
        "--crop (centre crop to 48x64) or --resize 48x64")
    assert not (tmp_path / "v.gif").exists()
    assert run_cli([*base, "--resize", "50x66", "--out", str(tmp_path / "v.gif")]) == 2
    assert one_line_error(capsys) == ("levitor generate: error: --resize 50x66: width and height must be multiples "
                                      "of 8, e.g. 48x64 (see levitor generate --help)")
    assert main([*base, "--crop", "--out", str(tmp_path / "c.gif")]) == 0
    assert Image.open(tmp_path / "c.gif").size == (48, 64)
    assert main([*base, "--resize", "56x72", "--out", str(tmp_path / "r.gif")]) == 0
    assert Image.open(tmp_path / "r.gif").size == (56, 72)


def test_a_photo_above_svd_size_is_refused_with_the_memory_it_needs(tmp_path, tiny_dirs, capsys, no_planning):
    scene = write_scene(tmp_path / "s", 4000, 3000)
    args = ["generate", *scene, "--svd", str(tiny_dirs["svd"]), "--controlnet", str(tiny_dirs["controlnet"]),
            "--out", str(tmp_path / "v.mp4")]
    assert main(args) == 2
    # 16 frames x 12e6 pixels x (3 x 4 x 2 + 128 x 3 x 2) bytes = 1.52e11 B = 141.6 GiB; 7.0 GiB at 1024x576
    assert one_line_error(capsys) == (
        "levitor generate: error: --image is 4000x3000, above SVD's working size 1024x576 (589824 pixels): "
        "sampling 16 frames would need about 141.6 GiB of activations (+ ~5.5 GiB of weights) against 7.0 GiB "
        "at 1024x576; pass --resize fit (here 880x664) or --resize WxH")


def test_device_checked_before_planning(tmp_path, tiny_dirs, scene_files, capsys, monkeypatch, no_planning):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    base = ["generate", *scene_files, "--svd", str(tiny_dirs["svd"]), "--controlnet", str(tiny_dirs["controlnet"]),
            "--out", str(tmp_path / "v.mp4")]
    assert main([*base, "--device", "gpu"]) == 2
    assert one_line_error(capsys) == "levitor generate: error: --device 'gpu' is not a device name; this machine has: cpu"
    assert main([*base, "--device", "cuda:1"]) == 2
    assert "--device cuda:1: this machine has no cuda device" in one_line_error(capsys)


def test_quick_demo_and_frames_dir_rerun(tmp_path, tiny_dirs, capsys):
    frames_dir = tmp_path / "frames"
    args = ["generate", "--demo", "--quick", "--svd", str(tiny_dirs["svd"]), "--controlnet",
            str(tiny_dirs["controlnet"]), "--out", str(tmp_path / "demo.gif"), "--frames-dir", str(frames_dir),
            "--steps", "1", "--frames", "3"]
    assert main(args) == 0
    # the demo scene (288x512) at the quick preset's working size: long side 256
    assert Image.open(tmp_path / "demo.gif").size == (144, 256)
    assert len(list(frames_dir.iterdir())) == 3
    args[args.index("--frames") + 1] = "2"
    assert main(args) == 0
    assert sorted(p.name for p in frames_dir.iterdir()) == ["frame_0000.png", "frame_0001.png"]
    assert main([*args, "--image", "x.png"]) == 2
    assert "--demo uses the shipped scene; drop --image" in capsys.readouterr().err


def test_control_maps_and_controlnet_folder_checked_before_loading(tmp_path, tiny_dirs, scene_files, capsys):
    image = scene_files[1]
    base = ["generate", "--svd", str(tiny_dirs["svd"]), "--controlnet", str(tiny_dirs["controlnet"]),
            "--out", str(tmp_path / "v.mp4"), "--image", image]
    np.save(tmp_path / "c.npy", np.zeros((4, 3, 32, 48), np.float32))
    assert main([*base, "--control", str(tmp_path / "c.npy")]) == 2
    assert one_line_error(capsys) == (f"levitor generate: error: --control {tmp_path / 'c.npy'} has shape "
                                      "(4, 3, 32, 48), expected (frames, 3, 64, 48) for the 48x64 --image")
    empty_cn = tmp_path / "cn"
    empty_cn.mkdir()
    (empty_cn / "config.json").write_text("{}")
    base[base.index("--controlnet") + 1] = str(empty_cn)
    assert main([*base, "--control", str(tmp_path / "c.npy")]) == 2
    assert one_line_error(capsys) == (f"levitor generate: error: --controlnet {empty_cn} has no "
                                      "diffusion_pytorch_model.safetensors; download it (pickled .bin files are "
                                      "not loaded)")


def test_sampling_defaults_are_the_library_ones():
    """`levitor generate` without sampling flags samples with the pipeline's own defaults."""
    import inspect

    from levitor.cli import build_parser
    from levitor.generation.pipeline import LeviTorPipeline

    args = build_parser().parse_args(["generate", "--svd", "s", "--controlnet", "c", "--out", "o.mp4"])
    call = inspect.signature(LeviTorPipeline.__call__).parameters
    flags = {"fps": "fps", "motion_bucket": "motion_bucket_id", "control_scale": "control_scale",
             "min_guidance": "min_guidance_scale", "max_guidance": "max_guidance_scale",
             "noise_aug": "noise_aug_strength", "seed": "seed"}
    for flag, name in flags.items():
        assert getattr(args, flag) == call[name].default, flag
    from levitor.cli.generate import DEFAULT_STEPS

    assert args.steps is None and DEFAULT_STEPS == call["num_inference_steps"].default
