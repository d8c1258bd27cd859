import json
import subprocess
import sys

import numpy as np
from PIL import Image

from levitor.cli import main
from levitor.demo_scene import ASSET_DIR


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
    main(["demo", "--out", str(tmp_path), "--frames", "16", "--format", "gif"])
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
