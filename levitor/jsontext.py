"""Reading the small JSON texts users type or editors write (tracks, clicked points)."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

_NO_DEFAULT = object()


def decode_json(data: Any, name: str, *, empty: Any = _NO_DEFAULT) -> Any:
    """Parse JSON text (``str`` or ``bytes``); other objects pass through unchanged.

    Empty text returns ``empty`` when given, else is a ``ValueError`` naming ``name``.
    """
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8")
    if not isinstance(data, str):
        return data
    text = data.strip()
    if not text:
        if empty is not _NO_DEFAULT:
            return empty
        raise ValueError(f"{name} is empty; give its JSON text (formats: docs/architecture.md)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def as_number(value: Any, what: str) -> float:
    """A finite float from a JSON number (or NumPy scalar); ``ValueError`` naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return value
