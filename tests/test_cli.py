import json
import subprocess
import sys

import numpy as np
from PIL import Image

from cli_helpers import one_line_error, run_cli
from levitor.assets.demo_scene import ASSET_DIR
from levitor.cli import main


def test_demo_writes_preview_control_and_keypoints(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--frames", "6", "--format", "gif"]) == 0
    control = np.load(out / "control.npy")
    assert control.shape == (6, 3, 512, 288)
    kps = json.loads((out / "keypoints.json").read_text())
    assert len(kps) == 6 and all(len(p) == 4 for frame in kps for p in frame)
    assert Image.open(out / "preview.gif").n_frames == 6
    assert len(list((out / "frames").glob("*.png"))) == 6
    assert "ball passes behind a pillar" in capsys.readouterr().out


def test_demo_occludes_the_ball_behind_the_pillar(tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--frames", "16", "--format", "gif"]) == 0
    labels = np.load(tmp_path / "labels.npy")
    area = [(f == 1).sum() for f in labels]
    hidden = min(area[4:12])
    assert hidden < 0.3 * area[0]  # behind the pillar in the middle of the clip
    assert area[-1] > area[0]  # nearer at the end


def test_plan_command_and_bad_input(tmp_path, capsys):
    masks = sorted(str(p) for p in ASSET_DIR.glob("object_*.png"))
    statics = sorted(str(p) for p in ASSET_DIR.glob("static_*.png"))
    args = ["plan", "--image", str(ASSET_DIR / "image.png"), "--depth", str(ASSET_DIR / "disparity8.png"),
            "--masks", *masks, "--static", *statics, "--tracks", str(ASSET_DIR / "tracks.json"),
            "--frames", "4", "--out", str(tmp_path / "p")]
    assert main(args) == 0
    assert (tmp_path / "p" / "preview.mp4").stat().st_size > 0
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    args[args.index("--tracks") + 1] = str(bad)
    args[-1] = str(tmp_path / "q")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "bad.json is not valid JSON" in err
    assert not (tmp_path / "q").exists()  # nothing half-written


def test_console_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "levitor", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "demo" in r.stdout and "plan" in r.stdout


def demo_plan_args(out):
    masks = sorted(str(p) for p in ASSET_DIR.glob("object_*.png"))
    statics = sorted(str(p) for p in ASSET_DIR.glob("static_*.png"))
    return ["plan", "--image", str(ASSET_DIR / "image.png"), "--depth", str(ASSET_DIR / "disparity8.png"),
            "--masks", *masks, "--static", *statics, "--tracks", str(ASSET_DIR / "tracks.json"),
            "--out", str(out)]


def test_bad_numbers_fail_before_planning_with_the_flag_named(tmp_path, capsys):
    out = tmp_path / "p"
    cases = {
        ("--fps", "0"): "levitor plan: error: --fps must be in [1, 60] (frame rate SVD is conditioned on), got 0 "
                        "(see levitor plan --help)",
        ("--frames", "0"): "levitor plan: error: --frames must be in [1, 128] (frames to plan), got 0 "
                           "(see levitor plan --help)",
        ("--ratio", "nan"): "levitor plan: error: --ratio must be a finite number in [0.01, 10] (control point "
                            "density: small = few points, large = many), got nan (see levitor plan --help)",
        ("--radius", "ten"): "levitor plan: error: --radius must be an integer in [1, 64], got 'ten' "
                             "(see levitor plan --help)",
    }
    for (flag, value), message in cases.items():
        assert run_cli([*demo_plan_args(out), flag, value]) == 2
        assert one_line_error(capsys) == message
    assert not out.exists()


def test_device_names_are_checked_against_this_machine(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    if hasattr(torch, "xpu"):
        monkeypatch.setattr(torch.xpu, "is_available", lambda: False)
    out = tmp_path / "p"
    assert run_cli([*demo_plan_args(out), "--device", "gpu"]) == 2
    assert one_line_error(capsys) == "levitor plan: error: --device 'gpu' is not a device name; this machine has: cpu"
    assert run_cli([*demo_plan_args(out), "--device", "cuda"]) == 2
    assert one_line_error(capsys) == (f"levitor plan: error: --device cuda: this machine has no cuda device (torch "
                                      f"{torch.__version__} sees: cpu); use --device cpu")
    assert not out.exists()


def test_plan_refuses_a_huge_photo_quickly_and_resize_fit_plans_it(tmp_path, capsys):
    w, h = 4000, 3000
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(tmp_path / "photo.png")
    d8 = np.tile(np.linspace(10, 240, h)[:, None], (1, w)).astype(np.uint8)
    Image.fromarray(d8).save(tmp_path / "d.png")
    m = np.zeros((h, w), np.uint8)
    m[1000:1400, 1000:1400] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    (tmp_path / "t.json").write_text(json.dumps({"tracks": [[[1200, 1200, 0.01], [2000, 1500, 0.008]]]}))
    base = ["plan", "--image", str(tmp_path / "photo.png"), "--depth", str(tmp_path / "d.png"),
            "--masks", str(tmp_path / "m.png"), "--tracks", str(tmp_path / "t.json"), "--frames", "4",
            "--out", str(tmp_path / "out")]
    assert main(base) == 2
    assert one_line_error(capsys) == (
        "levitor plan: error: --image is 4000x3000 = 12000000 pixels, above the 4194304 a plan allows; resize it "
        "(SVD works at 1024x576), or pass --resize fit")
    assert not (tmp_path / "out").exists()
    assert main([*base, "--resize", "fit"]) == 0
    control = np.load(tmp_path / "out" / "control.npy")
    assert control.shape == (4, 3, 664, 880)  # 4000x3000 scaled into 1024*576 pixels, multiples of 8
    labels = np.load(tmp_path / "out" / "labels.npy")
    # the object (1000..1400 of 4000 columns) scaled by 880/4000 and 664/3000
    rows, cols = np.nonzero(labels[0] == 1)
    assert abs(cols.min() - 1000 * 880 / 4000) <= 2 and abs(rows.min() - 1000 * 664 / 3000) <= 2  # splat edge


def test_rerun_with_fewer_frames_leaves_no_stale_frames(tmp_path):
    out = tmp_path / "p"
    assert main([*demo_plan_args(out), "--frames", "5", "--format", "gif"]) == 0
    assert len(list((out / "frames").glob("*.png"))) == 5
    assert main([*demo_plan_args(out), "--frames", "3", "--format", "gif"]) == 0
    assert sorted(p.name for p in (out / "frames").iterdir()) == [f"preview_{i:04d}.png" for i in range(3)]
    assert np.load(out / "control.npy").shape[0] == 3
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_frames_folder_with_other_files_is_never_emptied(tmp_path, capsys):
    out = tmp_path / "p"
    (out / "frames").mkdir(parents=True)
    (out / "frames" / "holiday.jpg").write_bytes(b"x")
    assert main([*demo_plan_args(out), "--frames", "2"]) == 2
    assert one_line_error(capsys) == (
        f"levitor plan: error: --out {out}: frames/ holds other files (holiday.jpg); give a new or empty folder "
        "(its frames are replaced on every run)")
    assert sorted(p.name for p in out.rglob("*")) == ["frames", "holiday.jpg"]


def test_depth_and_mask_warnings_on_the_command_line(tmp_path, capsys):
    args = demo_plan_args(tmp_path / "p")
    white = tmp_path / "white.png"
    Image.fromarray(np.full((512, 288), 255, np.uint8)).save(white)
    args[args.index("--depth") + 1] = str(white)
    empty = tmp_path / "empty_static.png"
    Image.fromarray(np.zeros((512, 288), np.uint8)).save(empty)
    args[args.index("--static") + 1] = str(empty)
    assert main([*args, "--frames", "2"]) == 0
    out = capsys.readouterr().out
    assert (f"warning: --depth {white} is constant: every pixel is at the same depth, so occlusion and "
            "perspective scaling are lost; check the depth map") in out
    assert f"warning: static mask {empty} covers nothing (no selected pixel); check the file or select again" in out


def test_plan_warns_when_the_size_cannot_be_generated(tmp_path, capsys):
    image = np.full((30, 42, 3), 100, np.uint8)
    Image.fromarray(image).save(tmp_path / "i.png")
    Image.fromarray(np.tile(np.linspace(20, 200, 30)[:, None], (1, 42)).astype(np.uint8)).save(tmp_path / "d.png")
    m = np.zeros((30, 42), np.uint8)
    m[10:20, 10:20] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    (tmp_path / "t.json").write_text(json.dumps({"tracks": [[[15, 15, 0.01], [25, 15, 0.01]]]}))
    args = ["plan", "--image", str(tmp_path / "i.png"), "--depth", str(tmp_path / "d.png"), "--masks",
            str(tmp_path / "m.png"), "--tracks", str(tmp_path / "t.json"), "--frames", "2", "--format", "gif"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert ("warning: the scene is 42x30: `levitor generate` needs multiples of 8; plan again with --crop or "
            "--resize to use these control maps for generation") in capsys.readouterr().out
    assert main([*args, "--crop", "--out", str(tmp_path / "b")]) == 0
    assert np.load(tmp_path / "b" / "control.npy").shape == (2, 3, 24, 40)
    assert "multiples of 8" not in capsys.readouterr().out


def test_plan_refuses_huge_files_from_their_headers_with_low_memory(tmp_path):
    from file_bombs import peak_of_run, png_bomb

    big = png_bomb(tmp_path / "big.png", 13000, 13000)
    big16 = png_bomb(tmp_path / "big16.png", 13000, 13000, bit_depth=16)
    (tmp_path / "t.json").write_text(json.dumps({"tracks": [[[10, 10, 0.5], [20, 20, 0.4]]]}))
    rc, base_mb, _, err = peak_of_run("code", "import levitor.cli.scene", [], tmp_path)
    assert rc == 0, err
    argv = ["plan", "--image", str(big), "--depth", str(big16), "--masks", str(big), "--tracks", str(tmp_path / "t.json"),
            "--out", str(tmp_path / "out")]
    rc, peak_mb, out, err = peak_of_run("module", "levitor", argv, tmp_path)
    assert rc == 2 and out == ""
    assert err == (f"levitor plan: error: image {big} is 13000x13000 pixels; each side must be in [1, 8192]: resize "
                   "it first\n")
    assert peak_mb < base_mb + 100, (peak_mb, base_mb)  # decoding would take 169 MB (and 3-4 GB as depth)
    assert not (tmp_path / "out").exists()


def test_long_names_and_empty_paths_are_argument_errors(tmp_path, capsys):
    long_name = str(tmp_path / ("n" * 300))
    for flag in ("--image", "--tracks", "--camera", "--out"):
        args = demo_plan_args(tmp_path / "p")
        if flag in args:
            args[args.index(flag) + 1] = long_name
        else:
            args += [flag, long_name]
        assert run_cli(args) == 2
        assert one_line_error(capsys) == (f"levitor plan: error: {flag}: the name 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn... "
                                          "in it is 300 bytes long, above the 255 a file system allows; give a shorter "
                                          "name (see levitor plan --help)")
        args[args.index(flag) + 1] = ""
        assert run_cli(args) == 2
        assert one_line_error(capsys) == f"levitor plan: error: {flag} must name a file, got '' (see levitor plan --help)"
    assert not (tmp_path / "p").exists()


def test_a_name_too_long_for_the_file_system_is_exit_2_naming_it(tmp_path, capsys, monkeypatch):
    """Within the parser's bounds, the file system may still refuse a name (a shorter NAME_MAX)."""
    import errno

    import levitor.cli.scene as scene

    def refuse(out, video_format):
        raise OSError(errno.ENAMETOOLONG, "File name too long", str(out))

    monkeypatch.setattr(scene, "check_plan_outputs", refuse)
    assert main(demo_plan_args(tmp_path / "p")) == 2
    assert one_line_error(capsys) == f"levitor plan: error: {tmp_path / 'p'}: File name too long; give another path"
