"""Live preview for the trajectory editor: ``POST /levitor/preview`` on ComfyUI's server.

Body: ``{"node_id": str, "tracks": <tracks JSON>, "num_frames": int, "frame": int | null}``.
The scene comes from :mod:`.scene_cache` (stored by LeviTorTrajectory3DEditor when it runs); the
tracks are resampled and the object masks rendered with the core planning library, and the answer
is a PNG of the chosen frame's moved object labels (coloured, transparent where no object is), or
a JSON error ``{"error": ..., "field": ...}`` with status 400.

The request handling is plain functions (:func:`parse_request`, :func:`render_preview_png`,
:func:`handle_preview`); :func:`register_routes` adds the aiohttp handler to the running server and
does nothing where there is none (tests, command line).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from levitor.planning.options import PlanOptions
from levitor.planning.stages import LiftedScene, lift_scene, render_stage
from levitor.planning.tracks import parse_tracks, stay_track
from levitor.preview import colorize_labels

from . import scene_cache

_log = logging.getLogger(__name__)

ROUTE = "/levitor/preview"
MAX_FRAMES = 256
MAX_BODY_BYTES = 2 * 1024 * 1024

# One render at a time, off the event loop, so previews never block the queue or pile up.
_executor: ThreadPoolExecutor | None = None
_registered = False
_lift_lock = threading.Lock()
_lift_cache: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


class PreviewError(ValueError):
    """A bad preview request; ``field`` names the offending body field."""

    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(message)
        self.field = field
        self.status = status

    def to_json(self) -> dict:
        return {"error": str(self), "field": self.field}


@dataclass
class PreviewRequest:
    node_id: str
    tracks: Any
    num_frames: int
    frame: int | None


def _int_field(body: dict, key: str, *, required: bool) -> int | None:
    value = body.get(key)
    if value is None:
        if required:
            raise PreviewError(key, f"'{key}' is required (an integer)")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or float(value) != int(value):
        raise PreviewError(key, f"'{key}' must be an integer, got {value!r}")
    return int(value)


def parse_request(body: Any) -> PreviewRequest:
    """Validate a preview request body (a dict, or JSON text/bytes)."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PreviewError("body", "the request body must be UTF-8 JSON") from exc
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            raise PreviewError("body", f"the request body is not valid JSON: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise PreviewError("body", "the request body must be a JSON object with node_id, tracks, num_frames, frame")
    node_id = body.get("node_id")
    if isinstance(node_id, bool) or not isinstance(node_id, (str, int)) or str(node_id) == "":
        raise PreviewError("node_id", f"'node_id' must be the editor node's id (a string), got {node_id!r}")
    if body.get("tracks") is None:
        raise PreviewError("tracks", "'tracks' is required: the tracks JSON (object, list or text)")
    num_frames = _int_field(body, "num_frames", required=True)
    if not 1 <= num_frames <= MAX_FRAMES:
        raise PreviewError("num_frames", f"'num_frames' must be between 1 and {MAX_FRAMES}, got {num_frames}")
    frame = _int_field(body, "frame", required=False)
    if frame is not None and not 0 <= frame < num_frames:
        raise PreviewError("frame", f"'frame' must be between 0 and num_frames - 1 = {num_frames - 1}, got {frame}")
    return PreviewRequest(str(node_id), body["tracks"], num_frames, frame)


def plan_tracks(scene, tracks: Any) -> list:
    """One track per object of ``scene`` from the editor's tracks JSON, in scene pixels.

    Objects whose track is missing or still empty stay in place (the editor sends the state
    being drawn); an extra last track (a camera track) is ignored here.
    """
    data = tracks
    if isinstance(data, (str, bytes, bytearray)):
        try:
            data = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PreviewError("tracks", f"'tracks' is not valid JSON: {exc}") from exc
    raw = data.get("tracks") if isinstance(data, dict) else data
    if not isinstance(raw, list):
        raise PreviewError("tracks", "'tracks' must hold a list of tracks (levitor-tracks JSON)")
    n = int(scene.num_objects)
    if len(raw) > n + 1:
        raise PreviewError("tracks", f"'tracks' has {len(raw)} tracks but the scene has {n} objects; "
                                     "give one track per object (plus at most one camera track)")
    placeholder = [[0.0, 0.0, 1.0]]
    empty = []
    filled = []
    for k, t in enumerate(raw[:n]):
        pts = t.get("points") if isinstance(t, dict) else t
        if isinstance(pts, list) and not pts:
            empty.append(k)
            filled.append({"points": placeholder})
        else:
            filled.append(t)
    doc = dict(data) if isinstance(data, dict) else {}
    doc["tracks"] = filled
    try:
        parsed = parse_tracks(doc, image_size=(scene.width, scene.height), name="tracks") if filled else []
    except ValueError as exc:
        raise PreviewError("tracks", str(exc)) from exc
    parsed = [list(t) for t in parsed]
    for k in empty:
        parsed[k] = stay_track(np.asarray(scene.labels) == k + 1, scene.depth)
    for k in range(len(parsed), n):
        parsed.append(stay_track(np.asarray(scene.labels) == k + 1, scene.depth))
    return parsed


def preview_frame(scene, tracks: Any, num_frames: int, frame: int | None = None, *, device=None) -> np.ndarray:
    """The moved object labels of one frame as RGBA ``(H, W, 4)`` uint8 (alpha 0 where no object).

    ``frame`` None is the last frame. Only that frame is rendered, from the scene lifted to 3D
    once (kept while the scene is).
    """
    planned = plan_tracks(scene, tracks)
    n = int(scene.num_objects)
    f = num_frames - 1 if frame is None else frame
    if n == 0:
        return np.zeros((scene.height, scene.width, 4), dtype=np.uint8)
    moved = render_stage(_lifted(scene, device), planned, PlanOptions(num_frames=num_frames), frames=[f])
    labels = np.asarray(moved.labels[0])
    objects = np.where((labels >= 1) & (labels <= n), labels, 0)
    rgb = colorize_labels(objects)
    alpha = np.where(objects > 0, 255, 0).astype(np.uint8)
    return np.dstack([rgb, alpha])


def _lifted(scene, device) -> LiftedScene:
    """The scene's pixels lifted to 3D, computed once per scene and device."""
    key = str(device)
    with _lift_lock:
        per_device = _lift_cache.setdefault(scene, {})
        if key not in per_device:
            per_device[key] = lift_scene(scene, device)
        return per_device[key]


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W, 3|4)`` uint8 array."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG")
    return buf.getvalue()


def render_preview_png(request: PreviewRequest, get_scene: Callable[[str], Any] = scene_cache.get_scene) -> bytes:
    """Render a validated request to PNG bytes; :class:`PreviewError` for a missing scene or bad tracks."""
    scene = get_scene(request.node_id)
    if scene is None:
        raise PreviewError("node_id", f"no scene stored for node {request.node_id}: run the workflow once so "
                                      "the editor node can keep its image, depth and masks")
    try:
        frame = preview_frame(scene, request.tracks, request.num_frames, request.frame)
    except PreviewError:
        raise
    except ValueError as exc:  # the core names the bad value (tracks, depths, sizes)
        raise PreviewError("tracks", str(exc)) from exc
    return encode_png(frame)


def handle_preview(body: Any, get_scene: Callable[[str], Any] = scene_cache.get_scene) -> tuple[int, str, bytes]:
    """The whole request without a web server: ``(status, content_type, payload)``."""
    try:
        request = parse_request(body)
        return 200, "image/png", render_preview_png(request, get_scene)
    except PreviewError as exc:
        return exc.status, "application/json", json.dumps(exc.to_json()).encode("utf-8")


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="levitor-preview")
    return _executor


async def preview_handler(request):
    """aiohttp handler for ``POST /levitor/preview``; the render runs in a worker thread."""
    from aiohttp import web

    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return web.json_response({"error": "the request body is too large", "field": "body"}, status=400)
    body = await request.read()
    loop = asyncio.get_running_loop()
    try:
        status, content_type, payload = await loop.run_in_executor(_get_executor(), handle_preview, body)
    except Exception as exc:  # an unexpected failure in the renderer: report it, keep the server up
        _log.exception("levitor preview failed")
        return web.json_response({"error": f"preview failed: {exc}", "field": "tracks"}, status=500)
    return web.Response(status=status, body=payload, content_type=content_type)


def add_routes(routes) -> None:
    """Add the preview route to an aiohttp ``RouteTableDef`` (or anything with ``.post``)."""
    routes.post(ROUTE)(preview_handler)


def register_routes() -> bool:
    """Register the preview route on ComfyUI's running server; False where there is no server."""
    global _registered
    if _registered:
        return True
    try:
        from server import PromptServer  # ComfyUI's server module
    except ImportError:
        return False
    instance = getattr(PromptServer, "instance", None)
    if instance is None or not hasattr(instance, "routes"):
        return False
    add_routes(instance.routes)
    _registered = True
    return True
