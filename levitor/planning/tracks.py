"""3D trajectories: the versioned tracks JSON, KJNodes ``coord_str`` input, PCHIP resampling, timing.

A track is the list of points a user clicked for one object, each ``(x, y, depth)``: ``x`` is the
column and ``y`` the row in the planning image, ``depth`` is in reference units (``[1e-4, 1]``,
smaller = nearer, see :mod:`levitor.planning.scene`). Track *k* moves object mask *k*.

A track may carry timing (a :class:`Track`): per point the frame it is reached at (a keyframe)
and an easing of its motion. Without timing a track resamples exactly as the reference does.
The format is specified by ``levitor/assets/schema/tracks.schema.json``; the editor's parser
(``web/js/lib/tracks_json.js``) follows the same rules, checked by ``tests/contract/``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..io.jsontext import FormatError, check_keys, format_number, short_repr
from ..io.jsontext import as_number as _as_float
from ..io.jsontext import decode_json as _decode
from ..limits import IMAGE_SIDE, MAX_TRACK_POINTS, MAX_TRACKS, NUM_FRAMES, TRACK_COORD, TRACK_DEPTH

TRACKS_FORMAT = "levitor-tracks"
TRACKS_VERSION = 2  # written when a track has timing; timing-free tracks are written as version 1
TRACKS_VERSIONS = (1, 2)  # read
EASINGS = ("linear", "ease-in", "ease-out", "ease-in-out")
MAX_KEYFRAME = NUM_FRAMES.hi - 1

Point = tuple[float, float, float]


class Track(list):
    """One track: a list of ``(x, y, depth)`` points, with optional timing.

    ``frames``: ``None``, or per point the frame it is reached at (``None`` for a point without
    one); ``easing``: one of :data:`EASINGS`; ``name``: for display only. A ``Track`` compares
    equal to the plain list of its points; its timing is read by :func:`resample_track`.
    """

    def __init__(self, points: Iterable[Sequence[float]] = (), *, frames: Sequence[int | None] | None = None,
                 easing: str = "linear", name: str | None = None):
        super().__init__(tuple(float(v) for v in p) for p in points)
        if any(len(p) != 3 for p in self):
            raise ValueError("a Track's points are (x, y, depth); give keyframes as frames=")
        self.frames = None if frames is None or all(f is None for f in frames) else tuple(frames)
        if self.frames is not None and len(self.frames) != len(self):
            raise ValueError(f"a track of {len(self)} points has {len(self.frames)} frames")
        if easing not in EASINGS:
            raise ValueError(f"easing must be one of {', '.join(EASINGS)}, got {easing!r}")
        self.easing = easing
        self.name = name

    @property
    def timed(self) -> bool:
        """Whether the track has keyframes or an easing other than ``linear``."""
        return self.frames is not None or self.easing != "linear"

    def with_points(self, points: Iterable[Sequence[float]]) -> Track:
        """The same timing and name over other points (as many)."""
        return Track(points, frames=self.frames, easing=self.easing, name=self.name)

    def __repr__(self) -> str:
        extra = "" if not self.timed else f", frames={self.frames}, easing={self.easing!r}"
        return f"Track({list.__repr__(self)}{extra})"


Tracks = list[Track]

_POINT_KEYS = ("x", "y", "depth", "frame")
_TRACK_KEYS = ("name", "points", "easing")
_DOC_KEYS = ("format", "version", "image_size", "tracks")
_NEEDS = "[x, y, depth] or [x, y, depth, frame]"


def _as_list(raw: Any) -> Any:
    """Tuples and NumPy arrays as lists (the JSON shapes); anything else unchanged."""
    if isinstance(raw, np.ndarray):
        return raw.tolist()
    if isinstance(raw, tuple):
        return list(raw)
    return raw


def _check_range(value: float, bound: Any, where: str, what: str) -> float:
    if not bound.lo <= value <= bound.hi:
        raise FormatError(f"{what}_range", f"{where} has {what} {value:g}; a {what} must be in "
                                           f"{bound.describe()} ({bound.meaning})")
    return value


def _frame(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, np.integer, np.floating)):
        ok = False
    elif isinstance(raw, (int, np.integer)):
        ok = 0 <= raw <= MAX_KEYFRAME
    else:
        ok = math.isfinite(raw) and float(raw).is_integer() and 0 <= raw <= MAX_KEYFRAME
    if not ok:
        raise FormatError("frame", f"{where} has frame {short_repr(raw)}; a frame must be a whole number in "
                                   f"[0, {MAX_KEYFRAME}] (the frame the point is reached at)")
    return int(raw)


def _parse_point(raw: Any, where: str) -> tuple[Point, int | None]:
    raw = _as_list(raw)
    if isinstance(raw, dict):
        check_keys(raw, _POINT_KEYS, where)
        if "x" not in raw or "y" not in raw or "depth" not in raw:
            raise FormatError("point_shape", f"{where}: a point object needs 'x', 'y' and 'depth' keys, got "
                                             f"{short_repr(raw)}")
        raw = [raw["x"], raw["y"], raw["depth"]] + ([raw["frame"]] if "frame" in raw else [])
    if not isinstance(raw, list) or len(raw) not in (3, 4):
        raise FormatError("point_shape", f"{where}: a point must be {_NEEDS}, got {short_repr(raw)}")
    if raw[2] is None:
        raise FormatError("point_shape", f"{where}: the point has no depth; give {_NEEDS}")
    x = _check_range(format_number(raw[0], f"{where} x"), TRACK_COORD, where, "coordinate")
    y = _check_range(format_number(raw[1], f"{where} y"), TRACK_COORD, where, "coordinate")
    d = _check_range(format_number(raw[2], f"{where} depth"), TRACK_DEPTH, where, "depth")
    return (x, y, d), (_frame(raw[3], where) if len(raw) == 4 else None)


def _parse_track(raw: Any, where: str) -> Track:
    easing, name = "linear", None
    if isinstance(raw, Track):
        easing, name = raw.easing, raw.name
        frames = raw.frames or (None,) * len(raw)
        raw = [list(p) + ([f] if f is not None else []) for p, f in zip(raw, frames)]
    raw = _as_list(raw)
    if isinstance(raw, dict):
        if "points" not in raw and "x" in raw and "y" in raw:
            raise FormatError("track_shape", f"{where} is a single {{x, y}} point; a track is a list of {_NEEDS} "
                                             "points (a KJNodes coord_str goes to the coord_str input, with depths)")
        check_keys(raw, _TRACK_KEYS, where)
        if "points" not in raw:
            raise FormatError("track_shape", f"{where}: a track object needs a 'points' list")
        easing = raw.get("easing", "linear")
        if easing not in EASINGS:
            raise FormatError("easing", f"{where} has easing {short_repr(easing)}; the easings are "
                                        f"{', '.join(EASINGS)}")
        name = raw.get("name")
        if name is not None and not isinstance(name, str):
            raise FormatError("track_shape", f"{where}: 'name' must be text, got {short_repr(name)}")
        raw = _as_list(raw["points"])
    if not isinstance(raw, list):
        raise FormatError("track_shape", f"{where} must be a list of {_NEEDS} points, got {short_repr(raw)}")
    if not raw:
        raise FormatError("empty_track", f"{where} has no points; click at least one point per object")
    if len(raw) > MAX_TRACK_POINTS:
        raise FormatError("too_many_points", f"{where} has {len(raw)} points, above the {MAX_TRACK_POINTS} allowed")
    parsed = [_parse_point(p, f"{where} point {i}") for i, p in enumerate(raw)]
    frames = [f for _, f in parsed]
    keyed = [(i, f) for i, f in enumerate(frames) if f is not None]
    for (i, f), (j, g) in zip(keyed, keyed[1:]):
        if g <= f:
            raise FormatError("frame_order", f"{where} point {j} has frame {g}, not after frame {f} of point {i}; "
                                             "keyframes must increase along the track")
    return Track([p for p, _ in parsed], frames=frames, easing=easing, name=name)


def parse_tracks(data: Any, *, image_size: Sequence[int] | None = None, name: str = "tracks") -> Tracks:
    """Parse tracks from JSON text or a Python object into :class:`Track` lists.

    Accepts the versioned format (``{"format": "levitor-tracks", "version": 1 or 2, "tracks":
    [...]}``) and a bare list of tracks (``[[[x, y, d], ...], ...]``); a track is a list of points
    or ``{"points": [...], "name": .., "easing": ..}``, a point ``[x, y, depth]``,
    ``[x, y, depth, frame]`` or ``{"x", "y", "depth", "frame"}`` (``frame`` optional). When the
    JSON names the ``image_size`` it was drawn on and ``image_size`` (``(width, height)`` of the
    planning image) differs, ``x`` and ``y`` are scaled; depths and frames never are. Every
    problem is a :class:`~levitor.io.jsontext.FormatError` (a ``ValueError``) naming the place.
    """
    if image_size is not None:
        image_size = _parse_size(image_size, f"{name}: the planning image_size")
    try:
        obj = _as_list(_decode(data, name))
    except FormatError:
        raise
    except ValueError as exc:
        raise FormatError("empty" if "is empty" in str(exc) else "json", str(exc)) from None
    source_size = None
    if isinstance(obj, dict):
        check_keys(obj, _DOC_KEYS, name)
        fmt = obj.get("format", TRACKS_FORMAT)
        if fmt != TRACKS_FORMAT:
            raise FormatError("format", f"{name}: format is {short_repr(fmt)}, expected {TRACKS_FORMAT!r}")
        version = obj.get("version", TRACKS_VERSION)
        if isinstance(version, bool) or version not in TRACKS_VERSIONS:
            raise FormatError("version", f"{name}: version {short_repr(version)} is not supported (this library "
                                         f"reads versions {', '.join(map(str, TRACKS_VERSIONS))}); upgrade levitor")
        if "tracks" not in obj:
            raise FormatError("tracks_shape", f"{name}: missing the 'tracks' list")
        raw_tracks = _as_list(obj["tracks"])
        if obj.get("image_size") is not None:
            source_size = _parse_size(obj["image_size"], f"{name} image_size")
    elif isinstance(obj, list):
        raw_tracks = obj
    else:
        raise FormatError("document", f"{name} must be a tracks object or a list of tracks, got {short_repr(obj)}")
    if not isinstance(raw_tracks, list):
        raise FormatError("tracks_shape", f"{name}: 'tracks' must be a list of tracks, got {type(raw_tracks).__name__}")

    if len(raw_tracks) > MAX_TRACKS:
        raise FormatError("too_many_tracks", f"{name}: {len(raw_tracks)} tracks, above the {MAX_TRACKS} a plan allows")
    tracks = [_parse_track(raw, f"{name}: track {k}") for k, raw in enumerate(raw_tracks)]

    if source_size is not None and image_size is not None:
        check_size_orientation(source_size, image_size, f"{name} image_size")
        tracks = scale_tracks(tracks, source_size, image_size)
    return tracks


def _parse_size(raw: Any, what: str) -> tuple[int, int]:
    raw = _as_list(raw)
    if not isinstance(raw, list) or len(raw) != 2:
        raise FormatError("image_size", f"{what} must be [width, height], got {short_repr(raw)}")
    try:
        return IMAGE_SIDE.check(raw[0], f"{what} width"), IMAGE_SIDE.check(raw[1], f"{what} height")
    except ValueError as exc:
        raise FormatError("image_size", str(exc)) from None


def check_size_orientation(source_size: Sequence[int], image_size: Sequence[int], what: str = "image_size") -> None:
    """``ValueError`` when ``source_size`` ``(W, H)`` is ``image_size`` turned 90 degrees: the
    size was given as ``[height, width]`` (the points would be stretched)."""
    sw, sh = float(source_size[0]), float(source_size[1])
    w, h = float(image_size[0]), float(image_size[1])
    if min(sw, sh, w, h) <= 0:
        return
    src, dst = np.log(sw / sh), np.log(w / h)
    if abs(src - dst) > 0.02 and abs(src + dst) <= 0.02:
        raise FormatError(
            "image_size",
            f"{what} is [{source_size[0]:g}, {source_size[1]:g}] but the image is {w:g}x{h:g} (width x height): "
            "the axes look swapped; image_size is [width, height]"
        )


def scale_tracks(tracks: Sequence[Sequence[Sequence[float]]], from_size: Sequence[int],
                 to_size: Sequence[int]) -> Tracks:
    """Rescale ``x, y`` from an image of ``from_size`` ``(W, H)`` to one of ``to_size``; depths
    and timing are unchanged."""
    sx = float(to_size[0]) / float(from_size[0])
    sy = float(to_size[1]) / float(from_size[1])
    out = []
    for track in tracks:
        t = track if isinstance(track, Track) else Track(track)
        out.append(t.with_points(t) if sx == 1.0 and sy == 1.0 else t.with_points((x * sx, y * sy, d) for x, y, d in t))
    return out


def shift_tracks(tracks: Sequence[Sequence[Sequence[float]]], dx: float, dy: float) -> Tracks:
    """Move ``x, y`` of every point by ``(dx, dy)`` (a crop's offset); depths and timing are unchanged."""
    out = []
    for track in tracks:
        t = track if isinstance(track, Track) else Track(track)
        out.append(t.with_points((x + dx, y + dy, d) for x, y, d in t))
    return out


def tracks_to_json(tracks: Iterable[Iterable[Sequence[float]]], *, image_size: Sequence[int] | None = None,
                   names: Sequence[str | None] | None = None, indent: bool = False) -> str:
    """Write tracks as versioned JSON text (the format the editor saves); ``indent`` puts one
    point per line. A :class:`Track`'s keyframes are written as ``[x, y, depth, frame]`` and
    its easing when not ``linear``; the version is 2 when any track has timing, else 1."""
    out_tracks = []
    timed = False
    for k, track in enumerate(tracks):
        track = list(track) if not isinstance(track, Track) else track
        frames = getattr(track, "frames", None) or (None,) * len(track)
        points = [[_num(p[0]), _num(p[1]), _num(p[2])] + ([int(f)] if f is not None else [])
                  for p, f in zip(track, frames)]
        name = names[k] if names is not None and k < len(names) else getattr(track, "name", None)
        easing = getattr(track, "easing", "linear")
        entry: dict[str, Any] = {"name": name} if name else {}
        if easing != "linear":
            entry["easing"] = easing
        entry["points"] = points
        timed = timed or easing != "linear" or any(f is not None for f in frames)
        out_tracks.append(entry)
    obj: dict[str, Any] = {"format": TRACKS_FORMAT, "version": 2 if timed else 1}
    if image_size is not None:
        obj["image_size"] = [int(image_size[0]), int(image_size[1])]
    obj["tracks"] = out_tracks
    if not indent:
        return json.dumps(obj)
    # One line per point: readable and still easy to edit by hand.
    lines = ["{"]
    for key in [k for k in obj if k != "tracks"]:
        lines.append(f'  "{key}": {json.dumps(obj[key])},')
    lines.append('  "tracks": [')
    for k, entry in enumerate(out_tracks):
        head = "".join(f"{json.dumps(key)}: {json.dumps(v)}, " for key, v in entry.items() if key != "points")
        pts = ",\n".join(f"      {json.dumps(p)}" for p in entry["points"])
        tail = "]}" + ("," if k < len(out_tracks) - 1 else "")
        lines.append(f'    {{{head}"points": [' + "\n" + pts + "\n    " + tail)
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _num(v: float) -> float | int:
    v = float(v)
    return int(v) if v.is_integer() else v


def parse_coord_str(coord_str: Any, depths: Any, *, name: str = "coord_str") -> Tracks:
    """Tracks from a KJNodes SplineEditor / PointsEditor ``coord_str`` and separate depths.

    ``coord_str`` is a JSON list of ``{"x", "y"}`` points, or a list of such lists (one per
    spline). ``depths`` is a number (all points), a list of numbers (per point of a single
    spline, or one per spline), or a list of lists (per point, per spline). A list whose length
    differs from the spline's point count is resampled over the spline (linear), so a per-frame
    depth list works with a spline sampled at any number of points.
    """
    obj = _as_list(_decode(coord_str, name))
    if not isinstance(obj, list) or not obj:
        raise ValueError(f"{name} must be a non-empty JSON list of {{'x','y'}} points")
    splines = obj if isinstance(obj[0], list) else [obj]
    if len(splines) > MAX_TRACKS:
        raise ValueError(f"{name}: {len(splines)} splines, above the {MAX_TRACKS} allowed")
    depth_obj = _as_list(_decode(depths, "depths") if isinstance(depths, (str, bytes, bytearray)) else depths)
    tracks: Tracks = []
    for k, spline in enumerate(splines):
        spline = _as_list(spline)
        if not isinstance(spline, list):
            raise ValueError(f"{name}: spline {k} must be a list of {{'x': .., 'y': ..}} points, "
                             f"got {short_repr(spline)}")
        if not spline:
            raise ValueError(f"{name}: spline {k} has no points")
        if len(spline) > MAX_TRACK_POINTS:
            raise ValueError(f"{name}: spline {k} has {len(spline)} points, above the {MAX_TRACK_POINTS} allowed")
        xy = []
        for i, p in enumerate(spline):
            if not isinstance(p, dict) or "x" not in p or "y" not in p:
                raise ValueError(f"{name}: spline {k} point {i} must be {{'x': .., 'y': ..}}, got {short_repr(p)}")
            xy.append((_as_float(p["x"], f"{name} spline {k} point {i} x"),
                       _as_float(p["y"], f"{name} spline {k} point {i} y")))
        d = _depths_for_spline(depth_obj, k, len(splines), len(xy))
        tracks.append([(x, y, di) for (x, y), di in zip(xy, d)])
    return tracks


def _depths_for_spline(depths: Any, k: int, n_splines: int, n_points: int) -> list[float]:
    if depths is None:
        raise ValueError("depths are required with a coord_str: give one depth, or a list per point")
    if isinstance(depths, (int, float, np.integer, np.floating)) and not isinstance(depths, bool):
        return [_as_float(depths, "depth")] * n_points
    if not isinstance(depths, (list, tuple)) or not depths:
        raise ValueError(f"depths must be a number or a non-empty list, got {short_repr(depths)}")
    if len(depths) > MAX_TRACK_POINTS:
        raise ValueError(f"depths has {len(depths)} values, above the {MAX_TRACK_POINTS} allowed")
    if isinstance(depths[0], (list, tuple)):
        if len(depths) != n_splines:
            raise ValueError(f"depths has {len(depths)} lists but there are {n_splines} splines")
        if not isinstance(depths[k], (list, tuple)):
            raise ValueError(f"depths[{k}] must be a list of numbers, got {short_repr(depths[k])}")
        if len(depths[k]) > MAX_TRACK_POINTS:
            raise ValueError(f"depths[{k}] has {len(depths[k])} values, above the {MAX_TRACK_POINTS} allowed")
        values = [_as_float(v, f"depths[{k}]") for v in depths[k]]
    elif n_splines > 1 and len(depths) == n_splines:
        return [_as_float(depths[k], f"depths[{k}]")] * n_points
    elif n_splines > 1:
        raise ValueError(f"depths has {len(depths)} values for {n_splines} splines; give one list per spline")
    else:
        values = [_as_float(v, "depths") for v in depths]
    if not values:
        raise ValueError(f"depths for spline {k} is empty")
    if len(values) == n_points:
        return values
    if len(values) == 1:
        return values * n_points
    src = np.linspace(0.0, 1.0, len(values))
    dst = np.linspace(0.0, 1.0, n_points)
    return [float(v) for v in np.interp(dst, src, values)]


def stay_track(mask: np.ndarray, depth: np.ndarray) -> list[Point]:
    """A one-point track that keeps an object where it is: the centroid of its ``mask`` at the
    median of ``depth`` over it; the image centre at depth 1.0 (far) for an empty mask."""
    mask = np.asarray(mask, dtype=bool)
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return [(mask.shape[1] / 2.0, mask.shape[0] / 2.0, 1.0)]
    return [(float(cols.mean()), float(rows.mean()), float(np.median(np.asarray(depth)[rows, cols])))]


def fill_stay_tracks(tracks: Sequence[Any], object_masks: Sequence[np.ndarray],
                     depth: np.ndarray) -> tuple[list, list[int]]:
    """One track per object: object ``k``'s track where ``tracks`` has a non-empty one, else its
    :func:`stay_track`. Tracks beyond the objects (a camera track) are kept. Returns the tracks and
    the indices of the objects that were given a stay track."""
    filled, stayed = [], []
    for k, mask in enumerate(object_masks):
        track = tracks[k] if k < len(tracks) else None
        if track is None or len(track) == 0:
            filled.append(stay_track(mask, depth))
            stayed.append(k)
        else:
            filled.append(track.with_points(track) if isinstance(track, Track) else list(track))
    return filled + [list(t) for t in tracks[len(object_masks):]], stayed


def ease(s: np.ndarray, easing: str) -> np.ndarray:
    """The easing curves, ``[0, 1] -> [0, 1]``: ``linear`` ``s``; ``ease-in`` ``s^2`` (starts
    slow); ``ease-out`` ``1 - (1 - s)^2`` (ends slow); ``ease-in-out`` ``2 s^2`` on the first half,
    ``1 - 2 (1 - s)^2`` on the second (slow at both ends, full speed at the middle)."""
    s = np.asarray(s, dtype=np.float64)
    if easing == "linear":
        return s
    if easing == "ease-in":
        return s * s
    if easing == "ease-out":
        return 1.0 - (1.0 - s) ** 2
    if easing == "ease-in-out":
        return np.where(s < 0.5, 2.0 * s * s, 1.0 - 2.0 * (1.0 - s) ** 2)
    raise ValueError(f"easing must be one of {', '.join(EASINGS)}, got {easing!r}")


def keyframe_times(n_points: int, frames: Sequence[int | None] | None, num_frames: int,
                   where: str = "track") -> tuple[np.ndarray, np.ndarray]:
    """Where a timed track is at its points: ``(knots, keys)``.

    ``knots`` ``(n_points,)``: the frame position of every point, the spline's parameter. A
    point with a frame is there at that frame; the first point without one at frame 0, the last
    without one at the last frame (``num_frames - 1``); points between keyed ones are spread
    evenly (by index) between them. ``keys``: the indices of the points with a frame, the first
    and last point included. ``ValueError`` when a frame is past the last frame or the frames do
    not increase along the track.
    """
    frames = list(frames) if frames is not None else [None] * n_points
    last = num_frames - 1
    for i, f in enumerate(frames):
        if f is not None and not 0 <= f <= last:
            raise ValueError(f"{where} point {i} has frame {f} but the plan has {num_frames} frames "
                             f"(0 to {last}); lower the frame or plan more frames")
    key_frames = dict((i, float(f)) for i, f in enumerate(frames) if f is not None)
    key_frames.setdefault(0, 0.0)
    key_frames.setdefault(n_points - 1, float(last))
    keys = np.array(sorted(key_frames), dtype=np.int64)
    at = np.array([key_frames[i] for i in keys])
    bad = np.nonzero(np.diff(at) <= 0)[0]
    if len(bad):
        i, j = int(keys[bad[0]]), int(keys[bad[0] + 1])
        raise ValueError(f"{where} point {j} is reached at frame {at[bad[0] + 1]:g}, not after point {i} at frame "
                         f"{at[bad[0]]:g} (a point without a frame: the first is at frame 0, the last at frame "
                         f"{last}); keyframes must increase along the track")
    knots = np.interp(np.arange(n_points, dtype=np.float64), keys.astype(np.float64), at)
    return knots, keys


def track_positions(points: Sequence[Sequence[float]], at: Any, num_frames: int, *,
                    frames: Sequence[int | None] | None = None, easing: str = "linear",
                    where: str = "track") -> np.ndarray:
    """A timed track's ``(x, y, depth)`` at frame positions ``at`` (any numbers in
    ``[0, num_frames - 1]``; fractional ones draw the curve between frames): ``(len(at), 3)``.

    Between two consecutive keys (:func:`keyframe_times`) the time is eased: at frame ``q`` with
    ``s = (q - k0) / (k1 - k0)`` the spline is evaluated at ``k0 + ease(s) (k1 - k0)``; the
    spline is one PCHIP per coordinate over the points at their ``knots``. Before the first key
    and after the last the object holds still; at a key it is exactly at its point.
    """
    from scipy.interpolate import PchipInterpolator

    pts = np.asarray(points, dtype=np.float64)
    q = np.asarray(at, dtype=np.float64).reshape(-1)
    knots, keys = keyframe_times(len(pts), frames, num_frames, where)
    if len(pts) == 1 or num_frames == 1:
        return np.repeat(pts[:1], len(q), axis=0)
    k = knots[keys]
    j = np.clip(np.searchsorted(k, q, side="right") - 1, 0, len(k) - 2)
    span = k[j + 1] - k[j]
    s = np.clip((q - k[j]) / span, 0.0, 1.0)
    u = k[j] + ease(s, easing) * span
    out = np.stack([PchipInterpolator(knots, pts[:, c])(u) for c in range(3)], axis=1)
    for i in keys:  # exactly at the point where it is keyed
        out[u == knots[i]] = pts[i]
    return out


def resample_track(points: Sequence[Sequence[float]], num_frames: int, *,
                   frames: Sequence[int | None] | None = None, easing: str | None = None,
                   where: str = "track") -> np.ndarray:
    """Resample one track to ``num_frames`` samples, ``(F, 3)`` float64.

    Without timing: monotone cubic (PCHIP) per coordinate over ``t = linspace(0, 1, n_points)``,
    evaluated at ``linspace(0, 1, num_frames)``, exactly as the reference. Endpoints are exact;
    two points give a straight line. A single point means "stay here" (every frame at that point).

    With timing (``frames`` per point and/or an ``easing`` other than ``linear``; by default a
    :class:`Track`'s own): :func:`track_positions` at frames ``0 .. num_frames - 1``.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"a track must be a list of (x, y, depth) points, got shape {pts.shape}")
    if frames is None:
        frames = getattr(points, "frames", None)
    if easing is None:
        easing = getattr(points, "easing", "linear")
    if frames is not None and len(frames) != len(pts):
        raise ValueError(f"{where} has {len(pts)} points but {len(frames)} frames")
    if frames is not None and all(f is None for f in frames):
        frames = None
    if frames is not None or easing != "linear":
        return track_positions(pts, np.arange(num_frames), num_frames, frames=frames, easing=easing, where=where)
    if len(pts) == 1:
        return np.repeat(pts, num_frames, axis=0)
    from scipy.interpolate import PchipInterpolator

    t = np.linspace(0, 1, len(pts))
    new_t = np.linspace(0, 1, num_frames)
    return np.stack([PchipInterpolator(t, pts[:, c])(new_t) for c in range(3)], axis=1)


def resample_tracks(tracks: Sequence[Sequence[Sequence[float]]], num_frames: int) -> np.ndarray:
    """Resample every track (with its timing): ``(n_tracks, F, 3)`` float64 (``(0, F, 3)`` for no tracks)."""
    if len(tracks) == 0:
        return np.zeros((0, num_frames, 3), dtype=np.float64)
    return np.stack([resample_track(t, num_frames, where=f"tracks: track {k}") for k, t in enumerate(tracks)])


def validate_tracks(tracks: Tracks, width: int, height: int, *, margin: float = 1.0) -> None:
    """Check depths are in ``TRACK_DEPTH`` (``[1e-4, 1]``) and points are not far outside the image.

    ``margin`` is the fraction of the image size a point may lie outside it (objects may leave
    the frame; a point more than one image away is almost surely a unit mistake).
    """
    for k, track in enumerate(tracks):
        for i, (x, y, d) in enumerate(track):
            if not (TRACK_DEPTH.lo <= d <= TRACK_DEPTH.hi):
                raise ValueError(f"tracks: track {k} point {i} has depth {d:g}; a depth must be in "
                                 f"[{TRACK_DEPTH.lo:g}, {TRACK_DEPTH.hi:g}] ({TRACK_DEPTH.meaning})")
            if not (-margin * width <= x <= (1 + margin) * width and -margin * height <= y <= (1 + margin) * height):
                raise ValueError(
                    f"tracks: track {k} point {i} at ({x:g}, {y:g}) is far outside the {width}x{height} image; "
                    "are the coordinates in pixels of the planning image?"
                )
