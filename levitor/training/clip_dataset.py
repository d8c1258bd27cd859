"""The PyTorch dataset of training clips, with deterministic sampling and bad-data handling."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from .clips import ClipOptions, DepthSource, TrainingClip, clip_tensors, prepare_clip
from .datasets import BadDataError, DataProblem, VideoRecord, load_clip

logger = logging.getLogger(__name__)

BAD_DATA_MODES = ("skip", "error")


class VOSClipDataset(torch.utils.data.Dataset):
    """One random clip of ``num_frames`` annotated frames per video and epoch.

    The start frame is drawn from a generator seeded by ``(seed, epoch, index)``, so the clips
    do not depend on the number of DataLoader workers or their order. ``frame_interval`` takes
    every n-th annotated frame. ``fixed_start`` always takes the clip starting there (for
    validation and overfitting checks).

    ``on_bad_data="skip"`` logs a video that cannot be read (naming the file), never uses it
    again in this process and returns another video's clip instead; ``"error"`` raises
    :class:`BadDataError`.
    """

    def __init__(self, records: Sequence[VideoRecord], depth: DepthSource, options: ClipOptions = ClipOptions(), *,
                 num_frames: int = 16, frame_interval: int = 1, on_bad_data: str = "skip", seed: int = 0,
                 fixed_start: int | None = None, max_retries: int = 50):
        if on_bad_data not in BAD_DATA_MODES:
            raise ValueError(f"on_bad_data must be one of {BAD_DATA_MODES}, got {on_bad_data!r}")
        if num_frames < 1 or frame_interval < 1:
            raise ValueError(f"num_frames and frame_interval must be >= 1, got {num_frames}, {frame_interval}")
        span = (num_frames - 1) * frame_interval + 1
        self.records = [r for r in records if r.num_annotated >= span]
        if not self.records:
            raise ValueError(f"no video has the {span} annotated frames a clip of {num_frames} frames "
                             f"(interval {frame_interval}) needs; lower --num_frames/--frame_interval or check the dataset")
        self.depth = depth
        self.options = options
        self.num_frames = num_frames
        self.frame_interval = frame_interval
        self.on_bad_data = on_bad_data
        self.seed = seed
        self.epoch = 0
        self.fixed_start = fixed_start
        self.max_retries = max_retries
        self.problems: list[DataProblem] = []
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Draw new clip positions (call before each epoch's DataLoader iteration)."""
        self.epoch = int(epoch)

    def clip_indices(self, index: int) -> list[int]:
        rec = self.records[index]
        span = (self.num_frames - 1) * self.frame_interval + 1
        if self.fixed_start is not None:
            start = min(max(self.fixed_start, 0), rec.num_annotated - span)
        else:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            start = int(rng.integers(0, rec.num_annotated - span + 1))
        return list(range(start, start + span, self.frame_interval))

    def load(self, index: int) -> TrainingClip:
        """The prepared clip of video ``index`` (raises :class:`BadDataError` on unreadable data)."""
        rec = self.records[index]
        indices = self.clip_indices(index)
        frames, labels = load_clip(rec, indices)
        disparity = np.stack([self.depth(rec, i, f) for i, f in zip(indices, frames)])
        return prepare_clip(frames, labels, disparity, self.options, name=rec.name, indices=indices)

    def load_checked(self, index: int) -> TrainingClip:
        """:meth:`load`, skipping unreadable videos per ``on_bad_data``."""
        return self._load_checked(index)[1]

    def _load_checked(self, index: int) -> tuple[int, TrainingClip]:
        """``(video index, clip)``: the clip of ``index`` or, when it is unreadable and
        ``on_bad_data`` is ``"skip"``, of another video."""
        n = len(self.records)
        candidate = index
        for attempt in range(self.max_retries + 1):
            if candidate not in self._bad:
                try:
                    return candidate, self.load(candidate)
                except (BadDataError, OSError, ValueError) as exc:
                    path = exc.path if isinstance(exc, BadDataError) else str(self.records[candidate].source)
                    reason = exc.reason if isinstance(exc, BadDataError) else str(exc)
                    if self.on_bad_data == "error":
                        if isinstance(exc, BadDataError):
                            raise
                        raise BadDataError(path, reason) from exc
                    problem = DataProblem(path, reason)
                    self.problems.append(problem)
                    self._bad.add(candidate)
                    logger.warning("skipping unreadable video %s: %s", self.records[candidate].name, problem)
            if len(self._bad) >= n:
                break
            candidate = int(np.random.default_rng([self.seed, self.epoch, index, attempt]).integers(0, n))
        raise RuntimeError(f"no readable clip found after {self.max_retries} attempts ({len(self._bad)} of {n} videos "
                           f"unreadable); last problems: " + "; ".join(str(p) for p in self.problems[-3:]))

    def __getitem__(self, index: int) -> dict:
        video, clip = self._load_checked(index)
        out = clip_tensors(clip)
        out["num_objects"] = clip.num_objects
        out["video"] = video
        out["start"] = clip.indices[0] if clip.indices else 0
        return out


def collate_clips(batch: list[dict]) -> dict:
    """Stack clips into ``frames`` (B,F,3,H,W) uint8 and ``control`` (B,F,3,H,W) int16, with
    ``num_objects``, ``video`` (index in the dataset) and ``start`` (first annotated frame) per clip."""
    return {
        "frames": torch.stack([b["frames"] for b in batch]),
        "control": torch.stack([b["control"] for b in batch]),
        **{key: torch.tensor([b[key] for b in batch]) for key in ("num_objects", "video", "start")},
    }


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: one compute thread per worker (the workers are the parallelism)."""
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover
        pass
