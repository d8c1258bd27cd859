"""Compatibility path: the control maps live in :mod:`levitor.planning.control`."""

from .planning.control import draw_control_maps, gaussian_template

__all__ = ["draw_control_maps", "gaussian_template"]
