"""The one tracks and points contract: the shared cases (tests/contract/cases.json) against the
library's parsers and resampler, the schemas (levitor/assets/schema/) against the cases and
levitor/limits.py, and the editors' generated copy (web/js/lib/contract.js) against its sources.
web/tests/contract.test.mjs runs the same cases against the editor (tests/test_web_logic.py)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from levitor import limits
from levitor.jsontext import FormatError, read_asset_json
from levitor.planning.tracks import EASINGS, Track, parse_tracks, resample_track, tracks_to_json
from levitor.preview import palette
from levitor.segmentation import parse_points

REPO = Path(__file__).resolve().parents[1]
CASES = json.loads((REPO / "tests" / "contract" / "cases.json").read_text())
TRACKS_SCHEMA = read_asset_json("schema/tracks.schema.json")
POINTS_SCHEMA = read_asset_json("schema/points.schema.json")
# Rules a JSON Schema cannot state: the text is not JSON, order along a track, the swapped
# image size (needs the planning image), a point per object, a positive point per object.
NOT_IN_SCHEMA = {"empty", "json", "frame_order", "no_points", "no_positive"}


def text_of(case: dict) -> str:
    r = case.get("repeat")
    return case["text"] if r is None else r["head"] + r["sep"].join([r["item"]] * r["count"]) + r["tail"]


def ids(cases):
    return [c["name"] for c in cases]


def normal_tracks(tracks) -> list[dict]:
    """Tracks as the cases write them: points ``[x, y, depth]`` or ``[x, y, depth, frame]``."""
    out = []
    for t in tracks:
        frames = t.frames or (None,) * len(t)
        entry = {"points": [list(p) + ([f] if f is not None else []) for p, f in zip(t, frames)], "easing": t.easing}
        if t.name:
            entry["name"] = t.name
        out.append(entry)
    return out


def same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def _not_json(word: str):
    raise ValueError(f"{word} is not JSON")


def check_error(exc: FormatError, expected: dict) -> None:
    assert exc.kind == expected["kind"], str(exc)
    for words in expected["mentions"]:
        assert words in str(exc), (words, str(exc))


@pytest.mark.parametrize("case", CASES["tracks"], ids=ids(CASES["tracks"]))
def test_tracks_case_in_the_library(case):
    size = case.get("scale_to")
    if "error" in case:
        with pytest.raises(FormatError) as info:
            parse_tracks(text_of(case), image_size=size, name="tracks_json")
        check_error(info.value, case["error"])
    else:
        got = normal_tracks(parse_tracks(text_of(case), image_size=size, name="tracks_json"))
        assert same(got, case["expect"]), got
        # The library's writer gives a text that reads back the same, timing included.
        again = normal_tracks(parse_tracks(tracks_to_json(parse_tracks(text_of(case), image_size=size))))
        assert same(again, case["expect"])


@pytest.mark.parametrize("case", CASES["points"], ids=ids(CASES["points"]))
def test_points_case_in_the_library(case):
    size = case.get("scale_to")
    if "error" in case:
        with pytest.raises(FormatError) as info:
            parse_points(text_of(case), image_size=size, name="points_json")
        check_error(info.value, case["error"])
    else:
        got = [[list(p) for p in obj] for obj in parse_points(text_of(case), image_size=size, name="points_json")]
        assert same(got, case["expect"]), got


@pytest.mark.parametrize("section, schema", [("tracks", TRACKS_SCHEMA), ("points", POINTS_SCHEMA)])
def test_the_schema_accepts_what_the_library_reads_and_refuses_what_it_refuses(section, schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    checked = 0
    for case in CASES[section]:
        kind = case.get("error", {}).get("kind")
        if kind in NOT_IN_SCHEMA or case.get("scale_to") and kind:
            continue
        try:
            doc = json.loads(text_of(case), parse_constant=_not_json)
        except ValueError:  # NaN: Python reads it, JSON has no such number
            continue
        errors = [e.message for e in validator.iter_errors(doc)]
        assert (not errors) == (kind is None), (case["name"], errors)
        checked += 1
    assert checked > 20


def test_schema_bounds_are_the_limits():
    def span(entry):
        return entry["minimum"], entry["maximum"]

    d = TRACKS_SCHEMA["$defs"]
    assert span(d["depth"]) == (limits.TRACK_DEPTH.lo, limits.TRACK_DEPTH.hi)
    for defs in (d, POINTS_SCHEMA["$defs"]):
        assert span(defs["coordinate"]) == (limits.TRACK_COORD.lo, limits.TRACK_COORD.hi)
        assert span(defs["imageSide"]) == (limits.IMAGE_SIDE.lo, limits.IMAGE_SIDE.hi)
    assert d["frame"]["maximum"] == limits.NUM_FRAMES.hi - 1  # a frame of the longest plan
    assert d["trackList"]["maxItems"] == limits.MAX_TRACKS and d["pointList"]["maxItems"] == limits.MAX_TRACK_POINTS
    assert POINTS_SCHEMA["$defs"]["pointList"]["maxItems"] == limits.MAX_PROMPT_POINTS
    assert tuple(d["easing"]["enum"]) == EASINGS
    assert d["document"]["properties"]["version"]["enum"] == [1, 2]


def _track(points) -> Track:
    return Track([p[:3] for p in points], frames=[p[3] if len(p) > 3 else None for p in points])


@pytest.mark.parametrize("case", CASES["resample"], ids=ids(CASES["resample"]))
def test_resample_case_in_the_library(case):
    track = _track(case["points"])
    track.easing = case["easing"]
    if "error" in case:
        with pytest.raises(ValueError) as info:
            resample_track(track, case["num_frames"])
        for words in case["error"]["mentions"]:
            assert words in str(info.value), (words, str(info.value))
        return
    out = resample_track(track, case["num_frames"])
    assert out.shape == (case["num_frames"], 3)
    if "expect" in case:
        np.testing.assert_allclose(out, case["expect"], rtol=0, atol=1e-9)
    for frame, point in case.get("expect_at", {}).items():
        assert out[int(frame)].tolist() == point  # exactly at the keyed point


@pytest.mark.parametrize("case", CASES["palette"], ids=[f"label {c['label']}" for c in CASES["palette"]])
def test_palette_case_in_the_library(case):
    assert palette(12)[case["label"]].tolist() == case["rgb"]


def test_the_editors_contract_module_is_generated_from_the_package():
    sys.path.insert(0, str(REPO / "tools"))
    import make_web_contract

    text = (REPO / "web" / "js" / "lib" / "contract.js").read_text()
    assert text == make_web_contract.contract_js(), "run python tools/make_web_contract.py"
