"""3D trajectories: the versioned tracks JSON, KJNodes ``coord_str`` input, PCHIP resampling.

A track is the list of points a user clicked for one object, each ``(x, y, depth)``: ``x`` is the
column and ``y`` the row in the planning image, ``depth`` is in reference units (``(0, 1]``,
smaller = nearer, see :mod:`levitor.planning.scene`). Track *k* moves object mask *k*.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..io.jsontext import as_number as _as_float
from ..io.jsontext import decode_json as _decode
from ..io.jsontext import short_repr
from ..limits import IMAGE_SIDE, MAX_TRACK_POINTS, MAX_TRACKS, TRACK_DEPTH

TRACKS_FORMAT = "levitor-tracks"
TRACKS_VERSION = 1

Point = tuple[float, float, float]
Tracks = list[list[Point]]


def _as_list(raw: Any) -> Any:
    """Tuples and NumPy arrays as lists (the JSON shapes); anything else unchanged."""
    if isinstance(raw, np.ndarray):
        return raw.tolist()
    if isinstance(raw, tuple):
        return list(raw)
    return raw


def _parse_point(raw: Any, where: str) -> Point:
    raw = _as_list(raw)
    if isinstance(raw, dict):
        if "x" not in raw or "y" not in raw:
            raise ValueError(f"{where}: a point object needs 'x', 'y' and 'depth' keys")
        raw = [raw["x"], raw["y"], raw.get("depth", raw.get("d"))]
    if not isinstance(raw, list) or len(raw) != 3:
        raise ValueError(f"{where}: a point must be [x, y, depth], got {short_repr(raw)}")
    x = _as_float(raw[0], f"{where} x")
    y = _as_float(raw[1], f"{where} y")
    if raw[2] is None:
        raise ValueError(f"{where}: the point has no depth; give [x, y, depth]")
    d = _as_float(raw[2], f"{where} depth")
    return (x, y, d)


def parse_tracks(data: Any, *, image_size: Sequence[int] | None = None, name: str = "tracks") -> Tracks:
    """Parse tracks from JSON text or a Python object.

    Accepts the versioned format (``{"format": "levitor-tracks", "version": 1, "tracks": [...]}``)
    and a bare list of tracks (``[[[x, y, d], ...], ...]``). When the JSON names the
    ``image_size`` it was drawn on and ``image_size`` (``(width, height)`` of the planning image)
    differs, ``x`` and ``y`` are scaled; depths never are.
    """
    obj = _as_list(_decode(data, name))
    source_size = None
    if isinstance(obj, dict):
        fmt = obj.get("format", TRACKS_FORMAT)
        if fmt != TRACKS_FORMAT:
            raise ValueError(f"{name}: format is {short_repr(fmt)}, expected {TRACKS_FORMAT!r}")
        version = obj.get("version", TRACKS_VERSION)
        if isinstance(version, bool) or version != TRACKS_VERSION:
            raise ValueError(
                f"{name}: version {short_repr(version)} is not supported (this library reads version {TRACKS_VERSION}); "
                "upgrade levitor"
            )
        if "tracks" not in obj:
            raise ValueError(f"{name}: missing the 'tracks' list")
        raw_tracks = _as_list(obj["tracks"])
        if obj.get("image_size") is not None:
            source_size = _parse_size(obj["image_size"], f"{name} image_size")
    else:
        raw_tracks = obj
    if not isinstance(raw_tracks, list):
        raise ValueError(f"{name}: 'tracks' must be a list of tracks, got {type(raw_tracks).__name__}")

    if len(raw_tracks) > MAX_TRACKS:
        raise ValueError(f"{name}: {len(raw_tracks)} tracks, above the {MAX_TRACKS} a plan allows")
    tracks: Tracks = []
    for k, raw in enumerate(raw_tracks):
        points = _as_list(raw.get("points") if isinstance(raw, dict) else raw)
        if not isinstance(points, list):
            raise ValueError(f"{name}: track {k} must be a list of [x, y, depth] points")
        if not points:
            raise ValueError(f"{name}: track {k} has no points; click at least one point per object")
        if len(points) > MAX_TRACK_POINTS:
            raise ValueError(f"{name}: track {k} has {len(points)} points, above the {MAX_TRACK_POINTS} allowed")
        tracks.append([_parse_point(p, f"{name}: track {k} point {i}") for i, p in enumerate(points)])

    if source_size is not None and image_size is not None:
        check_size_orientation(source_size, image_size, f"{name} image_size")
        tracks = scale_tracks(tracks, source_size, image_size)
    return tracks


def _parse_size(raw: Any, what: str) -> tuple[int, int]:
    raw = _as_list(raw)
    if not isinstance(raw, list) or len(raw) != 2:
        raise ValueError(f"{what} must be [width, height], got {short_repr(raw)}")
    return IMAGE_SIDE.check(raw[0], f"{what} width"), IMAGE_SIDE.check(raw[1], f"{what} height")


def check_size_orientation(source_size: Sequence[int], image_size: Sequence[int], what: str = "image_size") -> None:
    """``ValueError`` when ``source_size`` ``(W, H)`` is ``image_size`` turned 90 degrees: the
    size was given as ``[height, width]`` (the points would be stretched)."""
    sw, sh = float(source_size[0]), float(source_size[1])
    w, h = float(image_size[0]), float(image_size[1])
    if min(sw, sh, w, h) <= 0:
        return
    src, dst = np.log(sw / sh), np.log(w / h)
    if abs(src - dst) > 0.02 and abs(src + dst) <= 0.02:
        raise ValueError(
            f"{what} is [{source_size[0]:g}, {source_size[1]:g}] but the image is {w:g}x{h:g} (width x height): "
            "the axes look swapped; image_size is [width, height]"
        )


def scale_tracks(tracks: Tracks, from_size: Sequence[int], to_size: Sequence[int]) -> Tracks:
    """Rescale ``x, y`` from an image of ``from_size`` ``(W, H)`` to one of ``to_size``."""
    sx = float(to_size[0]) / float(from_size[0])
    sy = float(to_size[1]) / float(from_size[1])
    if sx == 1.0 and sy == 1.0:
        return [list(t) for t in tracks]
    return [[(x * sx, y * sy, d) for (x, y, d) in track] for track in tracks]


def tracks_to_json(tracks: Iterable[Iterable[Sequence[float]]], *, image_size: Sequence[int] | None = None,
                   names: Sequence[str | None] | None = None, indent: bool = False) -> str:
    """Write tracks as versioned JSON text (the format the editor saves); ``indent`` puts one
    point per line."""
    out_tracks = []
    for k, track in enumerate(tracks):
        entry: dict[str, Any] = {"points": [[_num(p[0]), _num(p[1]), _num(p[2])] for p in track]}
        if names is not None and k < len(names) and names[k]:
            entry = {"name": names[k], **entry}
        out_tracks.append(entry)
    obj: dict[str, Any] = {"format": TRACKS_FORMAT, "version": TRACKS_VERSION}
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
        head = f'    {{"name": {json.dumps(entry["name"])}, "points": [' if "name" in entry else '    {"points": ['
        pts = ",\n".join(f"      {json.dumps(p)}" for p in entry["points"])
        tail = "]}" + ("," if k < len(out_tracks) - 1 else "")
        lines.append(head + "\n" + pts + "\n    " + tail)
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
            filled.append(list(track))
    return filled + [list(t) for t in tracks[len(object_masks):]], stayed


def resample_track(points: Sequence[Sequence[float]], num_frames: int) -> np.ndarray:
    """Resample one track to ``num_frames`` samples, ``(F, 3)`` float64.

    Monotone cubic (PCHIP) per coordinate over ``t = linspace(0, 1, n_points)``, evaluated at
    ``linspace(0, 1, num_frames)``, exactly as the reference. Endpoints are exact; two points give
    a straight line. A single point means "stay here" (every frame at that point).
    """
    from scipy.interpolate import PchipInterpolator

    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"a track must be a list of (x, y, depth) points, got shape {pts.shape}")
    if len(pts) == 1:
        return np.repeat(pts, num_frames, axis=0)
    t = np.linspace(0, 1, len(pts))
    new_t = np.linspace(0, 1, num_frames)
    return np.stack([PchipInterpolator(t, pts[:, c])(new_t) for c in range(3)], axis=1)


def resample_tracks(tracks: Sequence[Sequence[Sequence[float]]], num_frames: int) -> np.ndarray:
    """Resample every track: ``(n_tracks, F, 3)`` float64 (``(0, F, 3)`` for no tracks)."""
    if len(tracks) == 0:
        return np.zeros((0, num_frames, 3), dtype=np.float64)
    return np.stack([resample_track(t, num_frames) for t in tracks])


def validate_tracks(tracks: Tracks, width: int, height: int, *, margin: float = 1.0) -> None:
    """Check depths are in ``TRACK_DEPTH`` (``[1e-4, 1]``) and points are not far outside the image.

    ``margin`` is the fraction of the image size a point may lie outside it (objects may leave
    the frame; a point more than one image away is almost surely a unit mistake).
    """
    for k, track in enumerate(tracks):
        for i, (x, y, d) in enumerate(track):
            if not (TRACK_DEPTH.lo <= d <= TRACK_DEPTH.hi):
                raise ValueError(
                    f"tracks: track {k} point {i} has depth {d:g}; depths are reference depths in (0, 1], "
                    f"at least {TRACK_DEPTH.lo:g} (smaller = nearer, 1 = far)"
                )
            if not (-margin * width <= x <= (1 + margin) * width and -margin * height <= y <= (1 + margin) * height):
                raise ValueError(
                    f"tracks: track {k} point {i} at ({x:g}, {y:g}) is far outside the {width}x{height} image; "
                    "are the coordinates in pixels of the planning image?"
                )
