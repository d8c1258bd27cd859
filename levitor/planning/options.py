"""Every planning option, its name and its default, in one place.

The defaults are the reference implementation's values. The nodes, the CLI, the preview route
and the trainer read them from here (``PlanOptions.base_radius`` etc.) rather than retyping them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..limits import BASE_RADIUS, MIN_AREA_FRAC, NUM_FRAMES, POINTS_PER_PIXEL, RADIUS, RATIO

REFERENCE_BASE_RADIUS = 0.011  # splat radius in normalised device units
REFERENCE_POINTS_PER_PIXEL = 10  # nearest points composited per pixel
REFERENCE_MIN_AREA_FRAC = 0.001  # segments not larger than this fraction of the image are dropped
REFERENCE_RADIUS = 10  # heatmap patch half-size in pixels (the reference's gaussian_r)
REFERENCE_NUM_FRAMES = 16  # SVD-xt LeviTor was trained on 16 frames
SPLAT_UNITS = ("pixels", "ndc")


@dataclass(frozen=True)
class KRule:
    """Constants of the adaptive k rule (the reference values by default)."""

    alpha: float = 50.0  # points per unit of image area at the label's largest extent
    k_max: int = 8
    k_min_forced: int = 3  # for moved objects and for regions whose area changes a lot or vanishes
    area_ratio: float = 10.0
    subsample: int = 10


@dataclass
class PlanOptions:
    """Every knob of planning; the defaults are the reference's.

    ``reference_uint8_wrap`` reproduces the reference's 8-bit wrap-around of labels above 255 and
    of depth codes above 255 (by default labels keep their value and depth codes clip at 255).
    ``safe_k`` caps k at the number of subsampled pixels of a region (the reference raises).
    ``strict_depth_test`` is the reference's strict occlusion test, under which an object at track
    depth 1.0 is never drawn over free pixels (by default a tie at the far plane draws it).
    Ranges of the numbers: :mod:`levitor.limits` (checked by :meth:`validated`).
    The render stage reads ``num_frames``, ``min_area_frac``, ``base_radius``,
    ``points_per_pixel``, ``splat_units`` and ``reference_uint8_wrap``; the control stage reads
    ``ratio``, ``radius``, ``use_id``, ``use_depth``, ``k_rule``, ``safe_k`` and
    ``reference_uint8_wrap``.
    """

    num_frames: int = REFERENCE_NUM_FRAMES
    ratio: float = 1.0
    radius: int = REFERENCE_RADIUS
    use_id: bool = True
    use_depth: bool = True
    min_area_frac: float = REFERENCE_MIN_AREA_FRAC
    base_radius: float = REFERENCE_BASE_RADIUS
    points_per_pixel: int = REFERENCE_POINTS_PER_PIXEL
    splat_units: str = "pixels"  # "ndc": the reference's resolution-dependent splat size
    k_rule: KRule = field(default_factory=KRule)
    safe_k: bool = True
    reference_uint8_wrap: bool = False
    strict_depth_test: bool = False  # the reference's strict occlusion test: an object at depth 1.0 never shows

    def validated(self) -> PlanOptions:
        """A copy with every number checked against :mod:`levitor.limits` (``ValueError`` naming it)."""
        return replace(self, num_frames=NUM_FRAMES.check(self.num_frames), ratio=RATIO.check(self.ratio),
                       radius=RADIUS.check(self.radius), min_area_frac=MIN_AREA_FRAC.check(self.min_area_frac),
                       base_radius=BASE_RADIUS.check(self.base_radius),
                       points_per_pixel=POINTS_PER_PIXEL.check(self.points_per_pixel))


def make_options(where: str = "plan", **options: Any) -> PlanOptions:
    """A :class:`PlanOptions` from keyword options; unknown names are a ``ValueError``."""
    unknown = set(options) - set(PlanOptions.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown {where} option(s): {', '.join(sorted(unknown))}")
    return PlanOptions(**options)
