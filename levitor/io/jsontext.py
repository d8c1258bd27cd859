"""Reading the small JSON texts users type or editors write (tracks, clicked points).

Texts are limited in size and nesting (:mod:`levitor.limits`); every problem is a ``ValueError``
naming the input.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import math
import reprlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..limits import MAX_JSON_BYTES, MAX_JSON_DEPTH

_NO_DEFAULT = object()
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 4, 4, 30, 30


@functools.cache
def _asset_text(name: str) -> str:
    return importlib.resources.files("levitor").joinpath("assets").joinpath(name).read_text("utf-8")


def read_asset_json(name: str) -> Any:
    """A JSON file shipped in ``levitor/assets`` (``"palette.json"``, ``"schema/tracks.schema.json"``),
    parsed anew on each call (callers may change it)."""
    return json.loads(_asset_text(name))


def nesting_depth(obj: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply lists, tuples and dicts nest in ``obj`` (counted up to ``limit + 1``), without recursion."""
    deepest = 0
    stack = [(obj, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((c, level + 1) for c in children)
    return deepest


def short_repr(value: Any) -> str:
    """A short ``repr`` for messages, safe on deeply nested or huge values."""
    return _REPR.repr(value)


def decode_json(data: Any, name: str, *, empty: Any = _NO_DEFAULT) -> Any:
    """Parse JSON text (``str`` or ``bytes``); other objects pass through unchanged.

    Empty text returns ``empty`` when given, else is a ``ValueError`` naming ``name``. Text above
    ``MAX_JSON_BYTES`` or nested deeper than ``MAX_JSON_DEPTH`` is refused before parsing.
    """
    if isinstance(data, (bytes, bytearray)):
        if len(data) > MAX_JSON_BYTES:
            raise ValueError(f"{name} is {len(data)} bytes, above the {MAX_JSON_BYTES} allowed")
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{name} is not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    if not isinstance(data, str):
        return data
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"{name} is {len(data)} characters, above the {MAX_JSON_BYTES} allowed")
    text = data.strip()
    if not text:
        if empty is not _NO_DEFAULT:
            return empty
        raise ValueError(f"{name} is empty; give its JSON text (formats: docs/architecture.md)")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError:
        obj = None
        depth = MAX_JSON_DEPTH + 1
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ValueError(f"{name} is not valid JSON: {str(exc).splitlines()[0][:120]}") from exc
    else:
        depth = nesting_depth(obj)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{name} nests lists/objects deeper than {MAX_JSON_DEPTH} levels; check its format")
    return obj


def as_number(value: Any, what: str) -> float:
    """A finite float from a JSON number (or NumPy scalar); ``ValueError`` naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{what} must be a number, got {short_repr(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{what} is too large ({len(str(abs(int(value))))} digits)") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number (not NaN or infinite), got {value!r}")
    return number


class FormatError(ValueError):
    """A tracks or points text that breaks its format (:mod:`levitor.assets.schema`).

    ``kind`` names the rule (``"depth_range"``, ``"point_shape"``...): the same kinds the editor
    reports, checked by the shared cases in ``tests/contract/``.
    """

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def check_keys(raw: dict, allowed: Sequence[str], where: str) -> None:
    """``FormatError`` (kind ``unknown_key``) naming the first key of ``raw`` not in ``allowed``."""
    extra = [k for k in raw if k not in allowed]
    if extra:
        raise FormatError("unknown_key", f"{where}: unknown key {short_repr(extra[0])}; the keys are "
                                         f"{', '.join(allowed)}")


def format_number(raw: Any, what: str) -> float:
    """:func:`as_number`, its ``ValueError`` as a ``FormatError`` of kind ``number``."""
    try:
        return as_number(raw, what)
    except ValueError as exc:
        raise FormatError("number", str(exc)) from None
