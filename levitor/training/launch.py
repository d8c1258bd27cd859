"""How training was launched: the processes a launcher started versus those accelerate joined.

``torchrun`` and ``accelerate launch`` tell each process the size of the job through
``WORLD_SIZE`` / ``LOCAL_RANK``; MPI launchers through their own variables. When accelerate
does not form a process group from them (on a machine without GPUs it needs
``ACCELERATE_USE_CPU=1``), every process believes it is alone: each trains on all the data and
they overwrite each other's checkpoints. :func:`check_launch` refuses that case before any slow
work, with the fix in the message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# Variables that give the number of processes of the job (first match wins).
SIZE_VARIABLES = ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE")
# Variables that give this process's rank: a rank above 0 means at least rank + 1 processes.
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK")


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    try:
        return int(env[name])
    except (KeyError, ValueError):
        return None


def launched_processes(env: Mapping[str, str] | None = None) -> tuple[int, str | None, bool]:
    """``(count, evidence, exact)``: how many processes the launcher's variables in ``env``
    (default ``os.environ``) announce, the variable that says so (None when none does) and
    whether the count is exact (a size) or a lower bound (from a rank)."""
    env = os.environ if env is None else env
    for name in SIZE_VARIABLES:
        value = _env_int(env, name)
        if value is not None and value > 1:
            return value, f"{name}={value}", True
    for name in RANK_VARIABLES:
        value = _env_int(env, name)
        if value is not None and value > 0:
            return value + 1, f"{name}={value}", False
    return 1, None, True


def check_launch(num_processes: int, env: Mapping[str, str] | None = None, *, gpus_visible: bool = False) -> None:
    """Raise ``ValueError`` when the launcher started more processes than accelerate joined
    (``num_processes``), naming the launcher's variable and the fix."""
    count, evidence, exact = launched_processes(env)
    if evidence is None or (num_processes == count if exact else num_processes >= count):
        return
    started = f"{count} processes" if exact else f"at least {count} processes"
    where = ("torch sees GPUs, so check that every process sees its own GPU and that the NCCL backend is usable"
             if gpus_visible else
             "torch sees no GPU, so accelerate stays on one process unless told to use the CPU: set "
             "ACCELERATE_USE_CPU=1 (gloo backend), e.g. ACCELERATE_USE_CPU=1 torchrun --standalone "
             "--nproc_per_node 2 train/train.py ...")
    raise ValueError(
        f"the launcher started {started} ({evidence}) but accelerate joined {num_processes}: each process would "
        f"train alone on all the data and overwrite the others' checkpoints. Start the job with accelerate launch "
        f"(--multi_gpu --num_processes N on GPUs) or torchrun; {where}; MPI launchers (mpirun) need "
        f"ACCELERATE_USE_CPU=1 on CPU (mpi or gloo backend) or accelerate launch on GPUs. See docs/training.md.")


def describe_launch(num_processes: int, per_process_batch: int, accumulation: int, backend: str,
                    device: str) -> str:
    """The one line a run logs about its processes, batch sizes and backend."""
    total = per_process_batch * num_processes * accumulation
    processes = f"{num_processes} process{'es' if num_processes != 1 else ''}"
    return (f"{processes} on {device}, backend {backend}; batch {per_process_batch} per process, total {total} "
            f"({per_process_batch} x {processes} x {accumulation} accumulation steps)")
