"""Checkpoints of a training run: ``<output_dir>/checkpoint-<step>/`` and the final ``controlnet/``.

A checkpoint holds the ControlNet as ``controlnet/`` (``save_pretrained`` safetensors) plus
accelerate's optimiser, LR-scheduler, scaler and per-process RNG states. Every file-system action
(removing leftovers of an interrupted save, the temporary folder, its rename, removing old
checkpoints beyond ``--checkpoints_total_limit``) is done by the main process alone, between
barriers: the other processes only write their own state files into the folder the main process
made and told them about. A checkpoint appears under its name only when it is complete, so
``--resume_from_checkpoint latest`` never picks up a half-written one.

In a multi-node run ``output_dir`` must be on a file system that every node sees.
"""

from __future__ import annotations

import os
import re
import shutil
from contextlib import nullcontext
from pathlib import Path

from accelerate.utils import broadcast_object_list

from ..generation.loading import load_controlnet
from ..io.atomic import atomic_dir

CHECKPOINT_PREFIX = "checkpoint-"
CONTROLNET_FOLDER = "controlnet"


def checkpoint_steps(output_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """The complete checkpoints in ``output_dir`` as ``(step, folder)``, oldest first."""
    output_dir = Path(output_dir)
    found = []
    if output_dir.is_dir():
        for p in output_dir.iterdir():
            m = re.fullmatch(rf"{CHECKPOINT_PREFIX}(\d+)", p.name)
            if m and p.is_dir():
                found.append((int(m.group(1)), p))
    return sorted(found)


def checkpoint_step(folder: Path) -> int:
    """The step a ``checkpoint-<step>`` folder was written at."""
    return int(folder.name[len(CHECKPOINT_PREFIX):])


def resolve_resume(output_dir: str | os.PathLike, resume_from: str | None) -> Path | None:
    """The checkpoint folder ``--resume_from_checkpoint`` names: ``"latest"`` is the newest in
    ``output_dir`` (None when there is none), anything else a ``checkpoint-<step>`` folder, as a
    path or a name inside ``output_dir``."""
    if not resume_from:
        return None
    if resume_from == "latest":
        found = checkpoint_steps(output_dir)
        return found[-1][1] if found else None
    path = Path(resume_from)
    if not path.is_dir():
        path = Path(output_dir) / resume_from
    if not path.is_dir() or not re.fullmatch(rf"{CHECKPOINT_PREFIX}\d+", path.name):
        raise ValueError(f"--resume_from_checkpoint {resume_from!r} is not a checkpoint-<step> folder (or 'latest')")
    return path


def shared_resume(accelerator, output_dir: Path, resume_from: str | None) -> Path | None:
    """:func:`resolve_resume` decided by the main process and sent to all (every process resumes
    from the same folder even while the listing changes)."""
    path = resolve_resume(output_dir, resume_from) if accelerator.is_main_process else None
    path = broadcast_object_list([None if path is None else str(path)])[0]
    return None if path is None else Path(path)


def remove_leftovers(accelerator, output_dir: Path) -> None:
    """Remove the temporary folders an interrupted save left in ``output_dir`` (main process)."""
    if accelerator.is_main_process and output_dir.is_dir():
        for p in output_dir.iterdir():
            if p.is_dir() and p.name.startswith((f".{CHECKPOINT_PREFIX}", f".{CONTROLNET_FOLDER}.")):
                shutil.rmtree(p, ignore_errors=True)
    accelerator.wait_for_everyone()


def register_hooks(accelerator) -> None:
    """Make ``save_state`` / ``load_state`` store the ControlNet as a safetensors ``controlnet/``
    folder (written by the main process) instead of accelerate's own model files."""

    def save_hook(models, weights, out):
        if accelerator.is_main_process:
            for m in models:
                accelerator.unwrap_model(m).save_pretrained(os.path.join(out, CONTROLNET_FOLDER),
                                                            safe_serialization=True)
        weights.clear()

    def load_hook(models, inp):
        while models:
            m = models.pop()
            loaded = load_controlnet(os.path.join(inp, CONTROLNET_FOLDER))
            accelerator.unwrap_model(m).load_state_dict(loaded.state_dict(), strict=True)
            del loaded

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


def save_checkpoint(accelerator, output_dir: Path, step: int, total_limit: int | None = None) -> Path:
    """Write ``checkpoint-<step>`` with every process, atomically; then keep at most
    ``total_limit`` checkpoints. Called by every process at the same step."""
    final = output_dir / f"{CHECKPOINT_PREFIX}{step}"
    accelerator.wait_for_everyone()
    with (atomic_dir(final) if accelerator.is_main_process else nullcontext()) as partial:
        partial = broadcast_object_list([str(partial) if accelerator.is_main_process else None])[0]
        accelerator.save_state(partial)
        accelerator.wait_for_everyone()  # every process has written its files before the rename
    if accelerator.is_main_process and total_limit is not None:
        older = [p for s, p in checkpoint_steps(output_dir) if s != step]
        for p in older[: max(0, len(older) - (total_limit - 1))]:
            shutil.rmtree(p, ignore_errors=True)
    accelerator.wait_for_everyone()  # nobody goes on before the checkpoint is in place
    return final


def save_controlnet(accelerator, controlnet, output_dir: Path) -> Path | None:
    """Save the final ``<output_dir>/controlnet`` (main process; others get None)."""
    accelerator.wait_for_everyone()
    final = None
    if accelerator.is_main_process:
        final = output_dir / CONTROLNET_FOLDER
        with atomic_dir(final) as tmp:
            accelerator.unwrap_model(controlnet).save_pretrained(tmp, safe_serialization=True)
    accelerator.wait_for_everyone()
    return final
