"""Access to the ComfyUI host: model folders, progress bars, devices, interruption.

Everything is imported inside the functions, so this module (and the core library) imports
without ComfyUI.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

#: Model folder keys this pack reads, with their default sub-folder of ``models/`` and extensions.
MODEL_FOLDERS = {
    "levitor": ("levitor", {".safetensors"}),
    "sams": ("sams", {".pth", ".pt", ".safetensors"}),
    "depthanything": ("depthanything", {".pth", ".pt", ".safetensors"}),
}


def register_model_folders() -> None:
    """Register this pack's model folder keys with ``folder_paths``.

    An absent key gets ``models/<key>``. A key that already exists (from ComfyUI itself, another
    pack or ``extra_model_paths.yaml``) keeps its folders, in their order; ``models/<key>`` is
    added after them when missing, and so are the extensions this pack reads (an empty extension
    set already accepts every file).
    """
    import folder_paths

    for key, (sub, exts) in MODEL_FOLDERS.items():
        default = os.path.join(folder_paths.models_dir, sub)
        entry = folder_paths.folder_names_and_paths.get(key)
        if entry is None:
            folder_paths.folder_names_and_paths[key] = ([default], set(exts))
            continue
        paths, known = entry
        if default not in paths:
            paths = list(paths) + [default]
        if isinstance(known, set) and known and not exts <= known:
            known = known | exts
        folder_paths.folder_names_and_paths[key] = (paths, known)


def folder_paths_for(key: str) -> list[str]:
    """The folders registered under ``key`` (empty when the key is unknown)."""
    import folder_paths

    register_model_folders()
    try:
        return list(folder_paths.get_folder_paths(key))
    except (KeyError, AttributeError):
        return []


def list_files(key: str) -> list[str]:
    """Model files under ``key`` (names relative to their folder), sorted."""
    import folder_paths

    register_model_folders()
    try:
        return sorted(folder_paths.get_filename_list(key))
    except (KeyError, AttributeError):
        return []


def list_model_dirs(key: str, marker_files: Iterable[str]) -> list[str]:
    """Sub-folders (up to two levels deep) of the ``key`` folders that hold one of ``marker_files``.

    Names are relative to their model folder, with ``/`` separators.
    """
    markers = tuple(marker_files)
    found: set[str] = set()
    for root in folder_paths_for(key):
        if not os.path.isdir(root):
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            rel = os.path.relpath(dirpath, root)
            depth = 0 if rel == "." else rel.count(os.sep) + 1
            if depth >= 2:
                dirnames[:] = []
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            if rel != "." and any(m in filenames for m in markers):
                found.add(rel.replace(os.sep, "/"))
    return sorted(found)


def resolve_model_dir(key: str, name: str) -> str:
    """The full path of the model folder ``name`` under ``key``, or a ``ValueError`` naming the fix."""
    for root in folder_paths_for(key):
        path = os.path.join(root, *name.split("/"))
        if os.path.isdir(path):
            return path
    roots = ", ".join(folder_paths_for(key)) or f"models/{key}"
    raise ValueError(f"model folder {name!r} was not found under {roots}; put it there or pick another one")


def resolve_model_file(key: str, name: str) -> str:
    """The full path of model file ``name`` under ``key``, or a ``ValueError`` naming the fix."""
    import folder_paths

    register_model_folders()
    path = folder_paths.get_full_path(key, name) if hasattr(folder_paths, "get_full_path") else None
    if path and os.path.isfile(path):
        return path
    roots = ", ".join(folder_paths_for(key)) or f"models/{key}"
    raise ValueError(f"model file {name!r} was not found under {roots}; put it there or pick another one")


def torch_device() -> Any:
    """The device ComfyUI computes on (``--cpu`` makes it the CPU)."""
    import comfy.model_management as mm

    return mm.get_torch_device()


def offload_device() -> Any:
    import comfy.model_management as mm

    return mm.unet_offload_device()


def intermediate_device() -> Any:
    import comfy.model_management as mm

    return mm.intermediate_device() if hasattr(mm, "intermediate_device") else "cpu"


def soft_empty_cache() -> None:
    import comfy.model_management as mm

    mm.soft_empty_cache()


def unload_all_models() -> None:
    import comfy.model_management as mm

    mm.unload_all_models()


def check_interrupted() -> None:
    """Raise ComfyUI's interruption exception if the user pressed Cancel."""
    import comfy.model_management as mm

    mm.throw_exception_if_processing_interrupted()


def progress_bar(total: int) -> Any:
    """A ComfyUI progress bar (its update also raises when the user cancels)."""
    import comfy.utils

    return comfy.utils.ProgressBar(int(total))


def temp_directory() -> str:
    import folder_paths

    return folder_paths.get_temp_directory()
