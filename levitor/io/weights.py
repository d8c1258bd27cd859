"""One reader for weight files: tensors only, never unpickled code."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from .atomic import atomic_path

#: ``torch.load(weights_only=True)`` can be bypassed in torch releases before 2.6.
_SAFE_TORCH_LOAD = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 6)


def read_state_dict(path: str | Path, *, what: str = "checkpoint") -> dict:
    """Tensors of a ``.safetensors`` file (or a tensor-only ``.pth`` on torch >= 2.6).

    ``what`` names the file in error messages ("SAM checkpoint", "Depth-Anything checkpoint").
    Every problem is a ``ValueError`` that names the file and the fix. A ``{"model": {...}}``
    wrapper, as some releases have, is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist")
    if path.suffix.lower() == ".safetensors":
        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ValueError(f"{what} {path.name}: not a readable .safetensors file ({exc}); "
                             "download it again") from exc
    else:
        if not _SAFE_TORCH_LOAD:
            raise ValueError(f"{what} {path.name}: reading .pth files needs torch >= 2.6 "
                             f"(this is {torch.__version__}); convert it to .safetensors or upgrade torch")
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for a damaged or pickled-code file
            raise ValueError(f"cannot read {what} {path.name} as a tensor-only checkpoint ({exc}); "
                             "convert it to .safetensors") from exc
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{what} {path.name} does not hold a state dict of tensors")
    return state


def write_state_dict(state: dict, path: str | Path) -> Path:
    """Write tensors to a ``.safetensors`` file atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    return path


def required_tensors(state: dict, keys: tuple[str, ...], *, what: str) -> tuple:
    """The tensors of ``state`` under ``keys``, in order; ``ValueError`` naming the first one missing
    ("not a <what> checkpoint: missing '<key>'")."""
    try:
        return tuple(state[k] for k in keys)
    except KeyError as exc:
        raise ValueError(f"not a {what} checkpoint: missing {exc.args[0]!r}") from exc


def block_count(state: dict, prefix: str) -> int:
    """How many ``<prefix><i>.…`` blocks a state dict holds (one more than the largest ``i``)."""
    n = prefix.count(".")
    return 1 + max(int(k.split(".")[n]) for k in state if k.startswith(prefix))
