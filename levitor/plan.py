"""Compatibility path: the planning entry points live in :mod:`levitor.planning.plan`."""

from .planning.plan import PlanOptions, PlanResult, build_plan, plan_scene

__all__ = ["PlanOptions", "PlanResult", "build_plan", "plan_scene"]
