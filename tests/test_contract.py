"""The one tracks and points contract: the shared cases (tests/contract/cases.json) against the
library's parsers and resampler, the schemas (levitor/assets/schema/) against the cases and
levitor/limits.py, and the editors' generated copy (web/js/lib/contract.js) against its sources.
web/tests/contract.test.mjs runs the same cases against the editor (tests/test_web_logic.py)."""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from levitor import limits
from levitor.io.jsontext import FormatError, read_asset_json
from levitor.perception.segmentation import parse_points
from levitor.planning.preview import palette
from levitor.planning.tracks import EASINGS, Track, parse_tracks, resample_track, tracks_to_json

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
    assert palette(300)[case["label"]].tolist() == case["rgb"]


def test_the_editors_contract_module_is_generated_from_the_package():
    sys.path.insert(0, str(REPO / "tools"))
    import make_web_contract

    text = (REPO / "web" / "js" / "lib" / "contract.js").read_text()
    assert text == make_web_contract.contract_js(), "run python tools/make_web_contract.py"


# --- the library and the editor on the same generated texts -------------------------------------

NODE = shutil.which("node")
EDITOR_READ = """
import { readFileSync } from "node:fs";
import { parseTracks, parsePoints } from "%s";
const norm = {
  tracks: (doc) => doc.tracks.map((t) => ({
    ...(t.name ? { name: t.name } : {}), easing: t.easing || "linear", points: t.points })),
  points: (doc) => doc.objects.map((o) => o.points.map((p) => [p.x, p.y, p.label])),
};
const out = JSON.parse(readFileSync(process.argv[1], "utf8")).map(([section, text]) => {
  try {
    return { expect: norm[section](section === "tracks" ? parseTracks(text) : parsePoints(text)) };
  } catch (e) {
    return { error: e.kind || `no kind: ${e.message}` };
  }
});
console.log(JSON.stringify(out));
"""


def _mutations(rng: random.Random):
    """Texts near the valid ones: each a valid document with one to three fields broken or changed."""
    odd = [0, -0.5, 1.5, 1e-5, 0.5, 1, 3.0, 2.5, 200, -1, "a", None, True, [], {}, 10 ** 400, 127, 128]
    for _ in range(400):
        doc = {"format": "levitor-tracks", "version": 2, "image_size": [288, 512],
               "tracks": [{"name": "a", "easing": "ease-in",
                           "points": [[10, 20, 0.5, 0], [30, 40, 0.25], [50, 60, 0.125, 9]]},
                          {"points": [{"x": 1, "y": 2, "depth": 0.3}, {"x": 3, "y": 4, "depth": 0.6, "frame": 4}]}]}
        for _ in range(rng.randint(1, 3)):
            tracks = doc.get("tracks")
            t = rng.choice(tracks) if isinstance(tracks, list) and tracks else None
            t = t if isinstance(t, dict) else None
            pts = t.get("points") if t else None
            p = rng.randrange(len(pts)) if isinstance(pts, list) and pts else None
            if p is not None and not isinstance(pts[p], (list, dict)):
                p = None
            what = rng.randrange(12)
            if what == 0 and p is not None:
                point = t["points"][p]
                key = rng.choice(["x", "y", "depth", "frame"]) if isinstance(point, dict) else rng.randrange(4)
                if isinstance(point, dict):
                    point[key] = rng.choice(odd)
                elif key < len(point):
                    point[key] = rng.choice(odd)
                else:
                    point.append(rng.choice(odd))
            elif what == 1 and p is not None:
                point = t["points"][p]
                if isinstance(point, dict) and point:
                    point.pop(rng.choice(list(point)))
                else:
                    del point[rng.randrange(len(point)):]
            elif what == 2 and p is not None:
                point = t["points"][p]
                t["points"][p] = (dict(zip(["x", "y", "depth", "frame"], point)) if isinstance(point, list)
                                  else {**point, rng.choice(["d", "label", "z"]): 1})
            elif what == 3 and t is not None:
                key = rng.choice(["easing", "name", "speed", "points"])
                t[key] = rng.choice(odd + ["linear", "ease-out", "bounce", "b"])
            elif what == 4 and t:
                t.pop(rng.choice(list(t)))
            elif what == 5:
                doc[rng.choice(["format", "version", "image_size", "tracks", "colour"])] = rng.choice(
                    odd + ["levitor-tracks", "other", [100, 50], [512, 288], [1, 5], [100.0, 50.0]])
            elif what == 6 and doc:
                doc.pop(rng.choice(list(doc)))
            elif what == 7 and isinstance(tracks, list) and tracks:
                i = rng.randrange(len(tracks))
                doc["tracks"][i] = rng.choice([[], {"x": 1, "y": 2}, 5, [[1, 2, 0.5]], {"points": []}])
            elif what == 8 and p is not None:
                t["points"].reverse()
            elif what == 9:
                doc = doc.get("tracks", [])
                break
            elif what == 10 and p is not None:
                t["points"][p] = rng.choice([[1, 2], [1, 2, 0.5, 3, 4], "ab", 5, None])
        yield "tracks", json.dumps(doc)
    for _ in range(200):
        doc = {"format": "levitor-points", "version": 1, "image_size": [288, 512],
               "objects": [{"points": [{"x": 10, "y": 20, "label": 1}, [30, 40, 0]]}, [[5, 6], {"x": 7, "y": 8}]]}
        for _ in range(rng.randint(1, 3)):
            obj = rng.choice(doc["objects"]) if isinstance(doc.get("objects"), list) and doc["objects"] else None
            pts = obj["points"] if isinstance(obj, dict) and isinstance(obj.get("points"), list) else obj
            what = rng.randrange(7)
            if what == 0 and isinstance(pts, list) and pts:
                i = rng.randrange(len(pts))
                if isinstance(pts[i], dict):
                    pts[i][rng.choice(["x", "y", "label", "lbl"])] = rng.choice(odd)
                elif isinstance(pts[i], list):
                    pts[i].append(rng.choice(odd))
            elif what == 1 and isinstance(pts, list) and pts:
                pts[rng.randrange(len(pts))] = rng.choice([[1], [1, 2], {"x": 1}, 5, "a", [1, 2, 1, 0]])
            elif what == 2:
                doc[rng.choice(["format", "version", "image_size", "objects", "points", "mode"])] = rng.choice(
                    odd + ["levitor-points", [100, 50], [[{"x": 1, "y": 2}]], [{"x": 1, "y": 2, "label": 0}]])
            elif what == 3:
                doc.pop(rng.choice(list(doc)), None)
            elif what == 4 and isinstance(doc.get("objects"), list):
                doc["objects"].append(rng.choice([[], {"points": []}, {"points": [], "x": 1}, 5]))
            elif what == 5:
                doc = doc.get("objects", doc)
                break
            elif what == 6 and isinstance(pts, list) and pts:
                pts.reverse()
        yield "points", json.dumps(doc)


def _library_read(section: str, text: str) -> dict:
    try:
        if section == "tracks":
            return {"expect": normal_tracks(parse_tracks(text, name="tracks_json"))}
        return {"expect": [[list(p) for p in o] for o in parse_points(text, name="points_json")]}
    except FormatError as exc:
        return {"error": exc.kind}


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed: the editor's parser runs under `node`")
def test_the_library_and_the_editor_read_generated_texts_alike(tmp_path):
    texts = list(_mutations(random.Random(19)))
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    module = (REPO / "web" / "js" / "lib" / "tracks_json.js").as_uri()
    r = subprocess.run([NODE, "--input-type=module", "-e", EDITOR_READ % module, str(tmp_path / "texts.json")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    editor = json.loads(r.stdout)
    # The editor's own states (an empty track, an object without a positive point, no points)
    # are the differences the case file names; everything else must agree.
    states = {"empty_track", "no_points", "no_positive"}
    compared, kinds = 0, set()
    for (section, text), ours in zip(texts, editor):
        lib = _library_read(section, text)
        kinds.add(lib.get("error"))
        if lib.get("error") in states:
            continue
        assert same(ours, lib), (section, text, lib, ours)
        compared += 1
    assert compared > 450 and len(kinds) > 12, (compared, kinds)  # the texts reach many rules


EDITOR_RESAMPLE = """
import { readFileSync } from "node:fs";
import { resampleTrack, trackPositions } from "%s";
const out = JSON.parse(readFileSync(process.argv[1], "utf8")).map(({ points, easing, num_frames, at }) => ({
  frames: resampleTrack(points, num_frames, { easing }),
  curve: trackPositions(points, at, num_frames, easing),
}));
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed: the editor's resampler runs under `node`")
def test_the_editor_resamples_timed_tracks_as_the_library(tmp_path):
    """The editor draws what the node renders: random keyframes and easings, per frame and
    between frames (the drawn curve)."""
    from levitor.planning.tracks import keyframe_times, track_positions

    rng = np.random.default_rng(20)
    cases = []
    for k in range(60):
        n, num_frames = int(rng.integers(1, 7)), int(rng.integers(2, 40))
        keyed = sorted(rng.choice(num_frames, size=min(n, num_frames), replace=False).tolist())
        frames = [f if rng.random() < 0.5 else None for f in keyed] + [None] * (n - len(keyed))
        try:
            keyframe_times(n, frames, num_frames)
        except ValueError:  # e.g. a key at the last frame before an unkeyed last point
            continue
        pts = np.column_stack([rng.uniform(-50, 500, n), rng.uniform(0, 300, n), rng.uniform(1e-3, 1, n)])
        points = [p.tolist() + ([f] if f is not None else []) for p, f in zip(pts, frames)]
        cases.append({"points": points, "frames": frames, "easing": EASINGS[k % 4], "num_frames": num_frames,
                      "at": np.linspace(0, num_frames - 1, 3 * num_frames).tolist()})
    (tmp_path / "tracks.json").write_text(json.dumps(cases))
    module = (REPO / "web" / "js" / "lib" / "pchip.js").as_uri()
    r = subprocess.run([NODE, "--input-type=module", "-e", EDITOR_RESAMPLE % module, str(tmp_path / "tracks.json")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    timed = 0
    for case, ours in zip(cases, json.loads(r.stdout)):
        track = Track([p[:3] for p in case["points"]], frames=case["frames"], easing=case["easing"])
        timed += track.timed
        np.testing.assert_allclose(ours["frames"], resample_track(track, case["num_frames"]), rtol=0, atol=1e-9)
        lib = track_positions(track, case["at"], case["num_frames"], frames=case["frames"], easing=case["easing"])
        np.testing.assert_allclose(ours["curve"], lib, rtol=0, atol=1e-9)
    assert len(cases) > 30 and timed > 25
