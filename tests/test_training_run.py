"""End-to-end training on CPU with tiny random models: learning, resuming, saving, generating."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from levitor.training import synthetic
from levitor.training.trainer import TrainConfig, evaluate_loss, load_frozen_models, train

H, W, F = 48, 32, 3
TINY_EMBEDDING = (8, 16, 16, 32)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from levitor.generation.tiny import save_tiny_models

    root = tmp_path_factory.mktemp("train")
    models = save_tiny_models(root / "models", fp16_variant=False)
    synthetic.write_dataset(root / "one", layout="davis", num_videos=1, num_frames=F, height=H, width=W,
                            depth_dir=root / "depth")
    synthetic.write_dataset(root / "two", layout="sav", num_videos=2, num_frames=F + 2, height=H, width=W,
                            as_video=False, depth_dir=root / "depth_sav")
    return root, models


def _cfg(setup, out: str, **kw) -> TrainConfig:
    root, models = setup
    base = dict(pretrained_model_name_or_path=str(models["svd"]), data_root=str(root / "one"),
                depth_dir=str(root / "depth"), output_dir=str(root / out), width=W, height=H, num_frames=F,
                conditioning_embedding_out_channels=TINY_EMBEDDING, dataloader_num_workers=0, report_to="none",
                checkpointing_steps=1000, validation_steps=1000, fixed_start=0, seed=1)
    base.update(kw)
    return TrainConfig(**base)


def _batch(cfg):
    from levitor.training.clip_dataset import collate_clips
    from levitor.training.trainer import build_dataset

    ds = build_dataset(cfg)
    return collate_clips([ds[0]])


def _models(cfg, controlnet_dir=None):
    unet, vae, enc, fe, cn = load_frozen_models(cfg if controlnet_dir is None
                                                else replace(cfg, controlnet_model_name_or_path=str(controlnet_dir)))
    return dict(controlnet=cn.eval(), unet=unet.eval(), vae=vae.eval(), image_encoder=enc.eval(),
                feature_extractor=fe)


def test_loss_falls_on_one_repeated_clip(setup):
    torch.manual_seed(0)
    cfg = _cfg(setup, "overfit", max_train_steps=30, learning_rate=1e-2, conditioning_dropout_prob=0.0)
    batch = _batch(cfg)
    seeds = list(range(4))  # fixed noise levels and noise: a deterministic measure of fit
    before = evaluate_loss(cfg, batch, seeds, **_models(cfg))
    result = train(cfg, progress=False)
    assert result.global_step == 30 and len(result.losses) == 30
    after = evaluate_loss(cfg, batch, seeds, **_models(cfg, result.controlnet_dir))
    print(f"eval loss before {before:.4f} after {after:.4f}")
    assert after < 0.85 * before, (before, after)
    assert all(np.isfinite(result.losses))


def test_checkpoint_resumes_to_the_same_step_and_weights(setup):
    from safetensors.torch import load_file

    common = dict(max_train_steps=4, checkpointing_steps=2, learning_rate=1e-3, data_root=str(setup[0] / "two"),
                  depth_dir=str(setup[0] / "depth_sav"), fixed_start=None, report_to="tensorboard")
    straight = train(_cfg(setup, "straight", **common), progress=False)
    assert straight.global_step == 4
    out = setup[0] / "resumed"
    first = train(_cfg(setup, "resumed", **dict(common, max_train_steps=2)), progress=False)
    assert first.global_step == 2 and (out / "checkpoint-2" / "controlnet" / "config.json").is_file()
    assert (out / "checkpoint-2" / "optimizer.bin").is_file()
    second = train(_cfg(setup, "resumed", resume_from_checkpoint="latest", **common), progress=False)
    assert second.resumed_from == out / "checkpoint-2"
    assert second.global_step == 4 and len(second.losses) == 2
    assert np.allclose(second.losses, straight.losses[2:], rtol=1e-4, atol=1e-6)
    a = load_file(str(straight.controlnet_dir / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(second.controlnet_dir / "diffusion_pytorch_model.safetensors"))
    assert a.keys() == b.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < 1e-5
    init = _models(_cfg(setup, "x"))["controlnet"].state_dict()
    assert max((a[k] - init[k]).abs().max().item() for k in a) > 1e-4  # it did train
    assert list((out / "logs").rglob("events.out.tfevents*"))  # TensorBoard logging


def test_saved_controlnet_loads_in_the_pipeline_and_generates(setup):
    from levitor.generation.pipeline import LeviTorPipeline
    from levitor.training.validation import validation_plan

    cfg = _cfg(setup, "val", max_train_steps=2, validation_steps=2, num_validation_inference_steps=2)
    result = train(cfg, progress=False)
    cn_dir = result.controlnet_dir
    assert (cn_dir / "config.json").is_file() and (cn_dir / "diffusion_pytorch_model.safetensors").is_file()
    assert not list(cn_dir.glob("*.bin"))
    assert (Path(cfg.output_dir) / "validation" / "step-0000002.gif").is_file()  # periodic validation video
    pipe = LeviTorPipeline.from_pretrained(cfg.pretrained_model_name_or_path, controlnet=str(cn_dir))
    pipe.set_progress_bar_config(disable=True)
    plan = validation_plan(W, H, F)
    frames = pipe(plan.scene.image, plan.control, num_inference_steps=2, output_type="np").frames
    assert np.asarray(frames).shape == (1, F, H, W, 3)
    assert np.isfinite(np.asarray(frames)).all()


def _run_script(*args: str) -> int:
    spec = importlib.util.spec_from_file_location("levitor_train_script", REPO / "train" / "train.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.pop("levitor_train_script", None)
    spec.loader.exec_module(module)
    return module.main(list(args))


def test_script_data_only_writes_previews(setup, tmp_path, capsys):
    root, _ = setup
    rc = _run_script("--data_root", str(root / "two"), "--depth_dir", str(root / "depth_sav"), "--data_only",
                     "--preview_dir", str(tmp_path / "prev"), "--width", str(W), "--height", str(H),
                     "--num_frames", str(F), "--num_previews", "2")
    assert rc == 0
    gifs = sorted((tmp_path / "prev").glob("*.gif"))
    assert len(gifs) == 2
    from levitor.io.media import read_video

    preview = read_video(gifs[0])
    assert preview.shape == (F, H, 2 * W, 3)  # labels + points | heatmaps
    assert len(list((tmp_path / "prev").glob("*/control_*.png"))) == 2 * F


def test_script_reports_bad_settings(setup, capsys):
    root, models = setup
    assert _run_script("--data_root", str(root / "one"), "--data_only") == 2
    assert "--preview_dir" in capsys.readouterr().err
    assert _run_script("--data_root", str(root / "nowhere"), "--pretrained_model_name_or_path",
                       str(models["svd"])) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    assert _run_script("--data_root", str(root / "one"), "--pretrained_model_name_or_path", str(models["svd"]),
                       "--width", "30") == 2
    assert "multiples of 8" in capsys.readouterr().err


def test_script_trains_in_one_process(setup, tmp_path, capsys):
    root, models = setup
    out = tmp_path / "cli"
    rc = _run_script("--pretrained_model_name_or_path", str(models["svd"]), "--data_root", str(root / "one"),
                     "--depth_dir", str(root / "depth"), "--output_dir", str(out), "--width", str(W), "--height",
                     str(H), "--num_frames", str(F), "--max_train_steps", "1", "--report_to", "none",
                     "--validation_steps", "100", "--dataloader_num_workers", "0",
                     "--conditioning_embedding_out_channels", *map(str, TINY_EMBEDDING))
    stdout = capsys.readouterr().out
    assert rc == 0
    assert "1 process on cpu, backend none; batch 1 per process, total 1" in stdout
    assert f"trained to step 1; ControlNet saved to {out / 'controlnet'}" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-1", "controlnet"]


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed")
def test_8bit_adam_without_bitsandbytes_is_a_clear_error(setup):
    with pytest.raises(ValueError, match="pip install bitsandbytes"):
        train(_cfg(setup, "bnb", max_train_steps=1, use_8bit_adam=True), progress=False)


def test_depth_is_estimated_once_then_read_from_the_cache(setup, tmp_path):
    from levitor.training.trainer import write_previews

    calls = []

    def estimator(image):
        calls.append(image.shape)
        return synthetic.fake_disparity(image)

    cfg = _cfg(setup, "unused", data_root=str(setup[0] / "two"), depth_dir=None,
               depth_cache_dir=str(tmp_path / "cache"), data_only=True, preview_dir=str(tmp_path / "prev"),
               num_previews=1)
    write_previews(cfg, estimator=estimator, progress=False)
    assert len(calls) == 2 * (F + 2)  # every annotated frame of both videos, once
    assert len(list((tmp_path / "cache").rglob("*.png"))) == 2 * (F + 2)
    write_previews(cfg, estimator=estimator, progress=False)
    assert len(calls) == 2 * (F + 2)


def _train_in_new_process(cfg: TrainConfig) -> dict:
    """``train(cfg)`` in a fresh Python process (accelerate fixes mixed precision once per process)."""
    import json
    import os
    import subprocess

    code = ("import json, sys\n"
            "from levitor.training.trainer import TrainConfig, train\n"
            "r = train(TrainConfig(**json.loads(sys.argv[1])), progress=False)\n"
            "print('RESULT ' + json.dumps(dict(global_step=r.global_step, losses=r.losses, "
            "skipped_steps=r.skipped_steps, controlnet_dir=str(r.controlnet_dir))))\n")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    run = subprocess.run([sys.executable, "-c", code, json.dumps(asdict(cfg))], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    line = next(x for x in run.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_gradient_checkpointing_accumulation_and_bf16_run(setup):
    cfg = _cfg(setup, "ckpt", max_train_steps=2, gradient_checkpointing=True, gradient_accumulation_steps=2,
               mixed_precision="bf16", data_root=str(setup[0] / "two"), depth_dir=str(setup[0] / "depth_sav"),
               fixed_start=None, checkpointing_steps=1, checkpoints_total_limit=1)
    result = _train_in_new_process(cfg)
    assert result["global_step"] == 2 and len(result["losses"]) == 2
    assert sorted(p.name for p in Path(cfg.output_dir).iterdir() if "checkpoint" in p.name) == ["checkpoint-2"]
    assert all(np.isfinite(result["losses"]))
    from safetensors.torch import load_file

    weights = load_file(str(Path(result["controlnet_dir"]) / "diffusion_pytorch_model.safetensors"))
    assert all(t.dtype == torch.float32 for t in weights.values())  # trained in fp32 master weights
    # CPU bf16 kernels occasionally give a non-finite weight gradient: that update is dropped,
    # never applied
    assert all(torch.isfinite(t).all() for t in weights.values())
    assert 0 <= result["skipped_steps"] <= 2


def test_another_mixed_precision_in_the_same_process_is_a_clear_error(setup):
    from accelerate import Accelerator

    from levitor.training.trainer import make_accelerator

    Accelerator(mixed_precision="no")  # what an earlier run in this process left
    with pytest.raises(ValueError, match="fixes --mixed_precision once per process"):
        make_accelerator(_cfg(setup, "mp", mixed_precision="bf16"))


def test_a_stopped_run_saves_a_checkpoint_and_resumes(setup):
    cfg = _cfg(setup, "stopped", max_train_steps=5, checkpointing_steps=100, learning_rate=1e-3)
    calls = []
    stopped = train(cfg, progress=False, should_stop=lambda: calls.append(1) or len(calls) >= 2)
    assert stopped.global_step == 2
    assert (Path(cfg.output_dir) / "checkpoint-2" / "controlnet" / "diffusion_pytorch_model.safetensors").is_file()
    leftover = Path(cfg.output_dir) / ".checkpoint-4.x1y2.partial"  # what a killed save leaves
    (leftover / "controlnet").mkdir(parents=True)
    resumed = train(replace(cfg, resume_from_checkpoint="latest", max_train_steps=3), progress=False)
    assert resumed.resumed_from.name == "checkpoint-2" and resumed.global_step == 3 and len(resumed.losses) == 1
    assert sorted(p.name for p in Path(cfg.output_dir).iterdir()) == ["checkpoint-2", "checkpoint-3", "controlnet"]


def test_training_estimates_depth_before_the_first_step(setup, tmp_path):
    calls = []

    def estimator(image):
        calls.append(1)
        return synthetic.fake_disparity(image)

    cfg = _cfg(setup, "est", data_root=str(setup[0] / "two"), depth_dir=None, depth_cache_dir=str(tmp_path / "c"),
               max_train_steps=1, dataloader_num_workers=1, fixed_start=None)
    result = train(cfg, estimator=estimator, progress=False)
    assert result.global_step == 1
    assert len(calls) == 2 * (F + 2)  # all annotated frames, in this process, once
    assert len(list((tmp_path / "c").rglob("*.png"))) == 2 * (F + 2)


def test_training_attends_per_sample_even_from_models_set_to_the_reference_order(setup, monkeypatch):
    """docs/training.md: the trainer uses the per-sample temporal order whatever the loaded models say."""
    from types import SimpleNamespace

    from levitor.training import trainer

    real = trainer.load_frozen_models

    def loaded_in_reference_order(cfg, dtype):
        models = real(cfg, dtype)
        for m in (models[0], models[4]):  # the UNet and the ControlNet
            m.set_temporal_context("reference")
        return models

    monkeypatch.setattr(trainer, "load_frozen_models", loaded_in_reference_order)
    accelerator = SimpleNamespace(mixed_precision="no", device=torch.device("cpu"))
    frozen, controlnet, _ = trainer.prepare_models(_cfg(setup, "ctx"), accelerator)
    assert frozen["unet"].temporal_context == "per-sample"
    assert controlnet.temporal_context == "per-sample"
