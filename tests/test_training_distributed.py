"""Data-parallel training for real: two CPU processes (gloo) under torchrun, tiny models,
synthetic data. The ranks see disjoint clips, hold identical ControlNet weights after every
update, a checkpoint written mid-run resumes to the weights of the uninterrupted run, and the
saved ControlNet generates. A launch whose processes accelerate does not join is refused.

Run as a script (``python tests/test_training_distributed.py --worker CONFIG.json OUT_DIR``)
this file is the per-process worker that torchrun starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
H, W, F = 48, 32, 3
NUM_VIDEOS = 4
TINY_EMBEDDING = [8, 16, 16, 32]


def _digest(module) -> str:
    """A fingerprint of every weight, bit for bit."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def worker(config_file: str, out_dir: str) -> int:
    """One process of the job: train and write what this rank saw to ``OUT_DIR/rank<i>.json``."""
    from levitor.training.trainer import TrainConfig, train

    cfg = TrainConfig(**json.loads(Path(config_file).read_text()))
    steps = []

    def on_step(report):
        steps.append(dict(step=report.step, loss=report.loss, local_loss=report.local_loss,
                          samples=report.samples, digest=_digest(report.controlnet),
                          process_index=report.process_index, num_processes=report.num_processes))

    start = time.perf_counter()
    result = train(cfg, on_step=on_step, progress=False)
    elapsed = time.perf_counter() - start
    rank = steps[0]["process_index"] if steps else int(os.environ.get("RANK", 0))
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / f"rank{rank}.json").write_text(json.dumps(dict(
        steps=steps, seconds=elapsed, global_step=result.global_step,
        controlnet_dir=None if result.controlnet_dir is None else str(result.controlnet_dir))))
    return 0


# ----------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from levitor.generation.tiny import save_tiny_models
    from levitor.training import synthetic

    root = tmp_path_factory.mktemp("ddp")
    models = save_tiny_models(root / "models", fp16_variant=False)
    synthetic.write_dataset(root / "data", layout="sav", num_videos=NUM_VIDEOS, num_frames=F + 1, height=H, width=W,
                            as_video=False, depth_dir=root / "depth")
    return root, models


def _config(setup, out: Path, **kw) -> dict:
    root, models = setup
    cfg = dict(pretrained_model_name_or_path=str(models["svd"]), data_root=str(root / "data"),
               depth_dir=str(root / "depth"), output_dir=str(out), width=W, height=H, num_frames=F,
               conditioning_embedding_out_channels=TINY_EMBEDDING, dataloader_num_workers=0, report_to="none",
               validation_steps=1000, learning_rate=1e-3, seed=3, max_train_steps=4, checkpointing_steps=1,
               checkpoints_total_limit=2)
    cfg.update(kw)
    return cfg


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])), **extra)
    return env


def _torchrun(setup, name: str, **kw) -> tuple[dict, dict, subprocess.CompletedProcess, float]:
    root, _ = setup
    out = root / name
    config = root / f"{name}.json"
    config.write_text(json.dumps(_config(setup, out, **kw)))
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          __file__, "--worker", str(config), str(root / f"{name}_reports")],
                         env=_env(ACCELERATE_USE_CPU="1", CUDA_VISIBLE_DEVICES=""), capture_output=True, text=True,
                         timeout=600)
    seconds = time.perf_counter() - start
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    reports = [json.loads((root / f"{name}_reports" / f"rank{r}.json").read_text()) for r in (0, 1)]
    return reports[0], reports[1], run, seconds


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "diffusion_pytorch_model.safetensors"))


def test_two_processes_train_in_step_and_resume_exactly(setup):
    root, models = setup
    r0, r1, run, seconds = _torchrun(setup, "straight")
    # one launch line, from the main process only
    assert run.stdout.count("2 processes on cpu, backend gloo; batch 1 per process, total 2") == 1, run.stdout
    steps = list(zip(r0["steps"], r1["steps"]))
    assert [a["step"] for a, _ in steps] == [1, 2, 3, 4] and r0["seconds"] > 0
    print(f"\ntwo-process run: {seconds:.1f} s wall (train() {r0['seconds']:.1f} s on rank 0)")
    for a, b in steps:
        print(f"step {a['step']}: loss rank0 {a['local_loss']:.5f} rank1 {b['local_loss']:.5f} mean {a['loss']:.5f}")
        assert a["process_index"] == 0 and b["process_index"] == 1 and a["num_processes"] == b["num_processes"] == 2
        videos0, videos1 = {v for v, _ in a["samples"]}, {v for v, _ in b["samples"]}
        assert len(a["samples"]) == len(b["samples"]) == 1 and not videos0 & videos1  # disjoint clips
        assert a["digest"] == b["digest"]  # identical weights on both ranks after the update
        assert a["loss"] == pytest.approx((a["local_loss"] + b["local_loss"]) / 2, rel=1e-5)
        assert a["local_loss"] != b["local_loss"]
    assert len({a["digest"] for a, _ in steps}) == 4  # every update changed the weights
    for epoch in (steps[:2], steps[2:]):  # 4 videos, 2 per step: each epoch covers every video once
        assert sorted(v for a, b in epoch for v, _ in a["samples"] + b["samples"]) == list(range(NUM_VIDEOS))

    out = root / "straight"
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-3", "checkpoint-4", "controlnet"]  # limit 2
    assert {"random_states_0.pkl", "random_states_1.pkl", "optimizer.bin"} <= {
        p.name for p in (out / "checkpoint-3").iterdir()}
    assert r0["controlnet_dir"] == str(out / "controlnet") and r1["controlnet_dir"] is None

    # Resume from the checkpoint written after step 3 (mid-epoch: one batch of the epoch is skipped).
    q0, q1, run, _ = _torchrun(setup, "resumed", resume_from_checkpoint=str(out / "checkpoint-3"))
    assert "resuming from" in run.stdout
    assert [s["step"] for s in q0["steps"]] == [4] == [s["step"] for s in q1["steps"]]
    for resumed, straight in ((q0, r0), (q1, r1)):
        last = straight["steps"][-1]
        assert resumed["steps"][0]["samples"] == last["samples"]
        assert resumed["steps"][0]["local_loss"] == pytest.approx(last["local_loss"], rel=1e-6)
        assert resumed["steps"][0]["digest"] == last["digest"]
    a, b = _weights(out / "controlnet"), _weights(root / "resumed" / "controlnet")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)

    # The saved ControlNet loads in the pipeline and generates.
    import numpy as np

    from levitor.generation.pipeline import LeviTorPipeline
    from levitor.training.validation import validation_plan

    pipe = LeviTorPipeline.from_pretrained(str(models["svd"]), controlnet=str(out / "controlnet"))
    pipe.set_progress_bar_config(disable=True)
    plan = validation_plan(W, H, F)
    frames = np.asarray(pipe(plan.scene.image, plan.control, num_inference_steps=2, output_type="np").frames)
    assert frames.shape == (1, F, H, W, 3) and np.isfinite(frames).all()


def test_a_launch_accelerate_does_not_join_is_refused(setup, tmp_path):
    """``torchrun --nproc_per_node 2`` without ACCELERATE_USE_CPU on a machine without GPUs:
    accelerate leaves each process on its own, so both must refuse to train."""
    out = tmp_path / "out"
    args = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            str(REPO / "train" / "train.py")]
    for key, value in _config(setup, out).items():
        args += [f"--{key}", *map(str, value)] if isinstance(value, list) else [f"--{key}", str(value)]
    env = _env(CUDA_VISIBLE_DEVICES="")
    env.pop("ACCELERATE_USE_CPU", None)
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    message = "the launcher started 2 processes (WORLD_SIZE=2) but accelerate joined 1"
    assert run.stderr.count(message) == 2, run.stderr[-3000:]  # each process refuses
    assert "ACCELERATE_USE_CPU=1" in run.stderr and "accelerate launch" in run.stderr
    assert not out.exists()  # refused before anything was written


@pytest.mark.parametrize("env, joined, refused", [
    ({}, 1, False),
    ({"WORLD_SIZE": "2", "LOCAL_RANK": "1"}, 2, False),
    ({"WORLD_SIZE": "2", "LOCAL_RANK": "1"}, 1, True),
    ({"WORLD_SIZE": "1"}, 1, False),
    ({"OMPI_COMM_WORLD_SIZE": "4"}, 1, True),  # mpirun
    ({"PMI_SIZE": "8"}, 8, False),
    ({"PMI_SIZE": "8"}, 1, True),  # MPICH / Intel MPI
    ({"MV2_COMM_WORLD_SIZE": "2"}, 1, True),
    ({"LOCAL_RANK": "3"}, 1, True),  # a rank above 0: at least 4 processes
    ({"LOCAL_RANK": "3"}, 4, False),
    ({"WORLD_SIZE": "x"}, 1, False),
])
def test_launch_check_reads_the_launchers_variables(env, joined, refused):
    from levitor.training.launch import check_launch

    if refused:
        with pytest.raises(ValueError, match=f"but accelerate joined {joined}.*ACCELERATE_USE_CPU=1"):
            check_launch(joined, env)
    else:
        check_launch(joined, env)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        sys.path.insert(0, str(REPO))
        raise SystemExit(worker(sys.argv[2], sys.argv[3]))
    raise SystemExit(f"usage: {sys.argv[0]} --worker CONFIG.json OUT_DIR (started by torchrun)")
