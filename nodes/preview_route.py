"""Live preview for the trajectory editor: ``POST /levitor/preview`` on ComfyUI's server.

Body: ``{"node_id": str, "tracks": <tracks JSON>, "num_frames": int, "frame": int | null,
"mode": "masks" | "warped"}`` (``mode`` optional, default ``"masks"``).
The scene comes from :mod:`.scene_cache` (stored by LeviTorTrajectory3DEditor when it runs); the
tracks are resampled and only the chosen frame is rendered, from the scene lifted to 3D once, with
the core planning library. The answer is a PNG of that frame: in ``masks`` mode its moved object
labels (coloured, transparent where no object is), in ``warped`` mode the warped frame (the start
image with the objects moved, :mod:`levitor.planning.warp`, opaque); or a JSON error
``{"error": ..., "field": ...}``:

* 400: a bad request (the field named); the bounds are the library's (:mod:`levitor.limits`);
* 413: a body above ``MAX_JSON_BYTES``, counted while reading (also for chunked bodies);
* 409: superseded: a newer request of the same node came while this one waited or rendered;
* 429: ``MAX_WAITING`` requests are already waiting (``Retry-After: 1``).

At most ``MAX_RENDERS`` renders run at once, and never two of one node (:class:`PreviewQueue`).
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from levitor.io.jsontext import decode_json, short_repr
from levitor.limits import MAX_JSON_BYTES, NUM_FRAMES
from levitor.planning.options import PlanOptions
from levitor.planning.preview import colorize_labels
from levitor.planning.stages import LiftedScene, lift_scene, render_stage
from levitor.planning.tracks import fill_stay_tracks, parse_tracks
from levitor.planning.warp import WarpSource, warp_render, warp_source

from . import scene_cache

_log = logging.getLogger(__name__)

ROUTE = "/levitor/preview"
MAX_RENDERS = 1  # renders at once (all nodes); one per node in any case
MAX_WAITING = 4  # requests waiting for their turn (one per node); more are answered 429
MAX_NODE_ID_CHARS = 256
MODES = ("masks", "warped")  # what the preview shows: the moved masks, or the warped frame

_registered = False
_lift_lock = threading.Lock()
_lift_cache: weakref.WeakKeyDictionary[Any, dict] = weakref.WeakKeyDictionary()


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
    mode: str = "masks"


def _int_field(body: dict, key: str, *, required: bool) -> int | None:
    value = body.get(key)
    if value is None:
        if required:
            raise PreviewError(key, f"'{key}' is required (an integer)")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not (math.isfinite(value) and value.is_integer())):
        raise PreviewError(key, f"'{key}' must be an integer, got {short_repr(value)}")
    return int(value)


def parse_request(body: Any) -> PreviewRequest:
    """Validate a preview request body (a dict, or JSON text/bytes); the bounds are the library's
    (:mod:`levitor.limits`)."""
    if isinstance(body, (str, bytes, bytearray)):
        try:
            body = decode_json(body, "the request body")
        except ValueError as exc:
            raise PreviewError("body", str(exc)) from exc
    if not isinstance(body, dict):
        raise PreviewError("body", "the request body must be a JSON object with node_id, tracks, num_frames, frame")
    node_id = body.get("node_id")
    if isinstance(node_id, bool) or not isinstance(node_id, (str, int)) or str(node_id) == "" \
            or len(str(node_id)) > MAX_NODE_ID_CHARS:
        raise PreviewError("node_id", f"'node_id' must be the editor node's id (a string), got {short_repr(node_id)}")
    if body.get("tracks") is None:
        raise PreviewError("tracks", "'tracks' is required: the tracks JSON (object, list or text)")
    num_frames = _int_field(body, "num_frames", required=True)
    if not NUM_FRAMES.lo <= num_frames <= NUM_FRAMES.hi:
        raise PreviewError("num_frames", f"'num_frames' must be between {NUM_FRAMES.lo} and {NUM_FRAMES.hi}, "
                                         f"got {short_repr(num_frames)}")
    frame = _int_field(body, "frame", required=False)
    if frame is not None and not 0 <= frame < num_frames:
        raise PreviewError("frame", f"'frame' must be between 0 and num_frames - 1 = {num_frames - 1}, "
                                    f"got {short_repr(frame)}")
    mode = body.get("mode", "masks")
    if mode is None:
        mode = "masks"
    if not isinstance(mode, str) or mode not in MODES:
        raise PreviewError("mode", f"'mode' must be one of {', '.join(MODES)}, got {short_repr(mode)}")
    return PreviewRequest(str(node_id), body["tracks"], num_frames, frame, mode)


def plan_tracks(scene, tracks: Any) -> list:
    """One track per object of ``scene`` from the editor's tracks JSON, in scene pixels.

    Objects whose track is missing or still empty stay in place (the editor sends the state
    being drawn); an extra last track (a camera track) is ignored here.
    """
    try:
        data = decode_json(tracks, "'tracks'")
    except ValueError as exc:
        raise PreviewError("tracks", str(exc)) from exc
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
    parsed = [[] if k in empty else t for k, t in enumerate(parsed)]  # Track objects: their timing goes to the render
    labels = np.asarray(scene.labels)
    return fill_stay_tracks(parsed, [labels == k + 1 for k in range(n)], scene.depth)[0]


def preview_frame(scene, tracks: Any, num_frames: int, frame: int | None = None, *, device=None,
                  mode: str = "masks") -> np.ndarray:
    """One frame: in ``masks`` mode the moved object labels as RGBA ``(H, W, 4)`` uint8 (alpha 0
    where no object); in ``warped`` mode the warped frame as RGB ``(H, W, 3)`` uint8.

    ``frame`` None is the last frame. Only that frame is rendered, from the scene lifted to 3D
    (and prepared for warping) once, kept while the scene is.
    """
    if mode not in MODES:
        raise PreviewError("mode", f"'mode' must be one of {', '.join(MODES)}, got {short_repr(mode)}")
    planned = plan_tracks(scene, tracks)
    n = int(scene.num_objects)
    f = num_frames - 1 if frame is None else frame
    if n == 0:
        if mode == "warped":
            return np.array(scene.image, dtype=np.uint8, copy=True)
        return np.zeros((scene.height, scene.width, 4), dtype=np.uint8)
    moved = render_stage(_lifted(scene, device), planned, PlanOptions(num_frames=num_frames), frames=[f])
    if mode == "warped":
        return warp_render(moved, _warp_source(scene, device)).frames[0]
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


def _warp_source(scene, device) -> WarpSource:
    """The scene prepared for warping, computed once per scene and device."""
    key = f"warp {device}"
    with _lift_lock:
        per_device = _lift_cache.setdefault(scene, {})
        if key not in per_device:
            per_device[key] = warp_source(scene, device)
        return per_device[key]


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W, 3|4)`` uint8 array."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def render_preview_png(request: PreviewRequest, get_scene: Callable[[str], Any] = scene_cache.get_scene) -> bytes:
    """Render a validated request to PNG bytes; :class:`PreviewError` for a missing scene or bad tracks."""
    scene = get_scene(request.node_id)
    if scene is None:
        raise PreviewError("node_id", f"no scene stored for node {request.node_id}: run the workflow once so "
                                      "the editor node can keep its image, depth and masks")
    try:
        frame = preview_frame(scene, request.tracks, request.num_frames, request.frame, mode=request.mode)
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


class PreviewQueue:
    """Who renders when: at most ``max_renders`` renders at once and one per editor node; at most
    ``max_waiting`` requests waiting (more are refused, 429); a node's newer request replaces its
    waiting one (answered 409 at once) and discards the result of its running one (409 when it
    ends). One queue per event loop."""

    def __init__(self, max_renders: int = MAX_RENDERS, max_waiting: int = MAX_WAITING):
        self.max_renders = max_renders
        self.max_waiting = max_waiting
        self._cond = asyncio.Condition()
        self._running: set[str] = set()
        self._waiting: dict[str, dict] = {}  # node id -> its waiting request
        self._latest: dict[str, int] = {}  # node id -> ticket of its newest request
        self._tickets = 0
        self._executor = ThreadPoolExecutor(max_workers=max_renders, thread_name_prefix="levitor-preview")
        weakref.finalize(self, self._executor.shutdown, wait=False)

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def submit(self, node_id: str, work: Callable[[], Any]) -> tuple[str, Any]:
        """Run ``work()`` in a worker thread when its turn comes: ``("done", result)``,
        ``("superseded", None)`` or ``("busy", None)``."""
        loop = asyncio.get_running_loop()
        async with self._cond:
            self._tickets += 1
            me = {"ticket": self._tickets, "superseded": False}
            older = self._waiting.get(node_id)
            if older is not None:
                older["superseded"] = True
            elif len(self._waiting) >= self.max_waiting:
                return "busy", None
            self._waiting[node_id] = me
            self._latest[node_id] = me["ticket"]
            self._cond.notify_all()
            try:
                await self._cond.wait_for(lambda: me["superseded"] or (
                    node_id not in self._running and len(self._running) < self.max_renders))
            finally:
                if self._waiting.get(node_id) is me:
                    del self._waiting[node_id]
            if me["superseded"]:
                return "superseded", None
            self._running.add(node_id)
        job = self._executor.submit(work)
        job.add_done_callback(lambda _: loop.call_soon_threadsafe(self._finished, node_id))
        result = await asyncio.wrap_future(job)
        if self._latest.get(node_id) != me["ticket"]:
            return "superseded", None
        self._latest.pop(node_id, None)
        return "done", result

    def _finished(self, node_id: str) -> None:
        async def release():
            async with self._cond:
                self._running.discard(node_id)
                self._cond.notify_all()

        asyncio.ensure_future(release())


_queues: weakref.WeakKeyDictionary[Any, PreviewQueue] = weakref.WeakKeyDictionary()


def preview_queue() -> PreviewQueue:
    """The running event loop's :class:`PreviewQueue`."""
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = PreviewQueue()
    return queue


class BodyTooLarge(PreviewError):
    def __init__(self, limit: int):
        super().__init__("body", f"the request body is larger than {limit} bytes", status=413)


async def read_body(request, limit: int = MAX_JSON_BYTES) -> bytes:
    """The request body, read in chunks and refused (:class:`BodyTooLarge`) past ``limit`` bytes,
    whether or not ``Content-Length`` is sent (chunked bodies). A body the server cannot decode
    (``Content-Encoding: gzip`` that is not gzip...) is a :class:`PreviewError` naming the body; the
    limit counts decoded bytes."""
    from aiohttp.http_exceptions import HttpProcessingError
    from aiohttp.web_protocol import RequestPayloadError

    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)
    chunks, size = [], 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
    except (RequestPayloadError, HttpProcessingError) as exc:
        cause = exc.__cause__ or exc
        encoding = request.headers.get("Content-Encoding", "none")
        raise PreviewError("body", f"the request body could not be decoded (Content-Encoding: {encoding}; "
                                   f"{type(cause).__name__}: {cause}); send JSON, plain or validly encoded") from None
    return b"".join(chunks)


def _json_error(web, exc: PreviewError, headers=None):
    return web.json_response(exc.to_json(), status=exc.status, headers=headers)


async def preview_handler(request):
    """aiohttp handler for ``POST /levitor/preview``: body read with a cap, validated on the
    event loop, rendered in a worker thread when :func:`preview_queue` gives its turn."""
    from aiohttp import web

    try:
        preview = parse_request(await read_body(request))
    except PreviewError as exc:
        return _json_error(web, exc)
    try:
        state, payload = await preview_queue().submit(preview.node_id, lambda: render_preview_png(preview))
    except PreviewError as exc:
        return _json_error(web, exc)
    except Exception as exc:  # an unexpected failure in the renderer: report it, keep the server up
        _log.exception("levitor preview failed")
        return web.json_response({"error": f"preview failed: {exc}", "field": "tracks"}, status=500)
    if state == "busy":
        return _json_error(web, PreviewError("body", "too many preview requests are waiting; try again shortly",
                                             status=429), headers={"Retry-After": "1"})
    if state == "superseded":
        return _json_error(web, PreviewError("node_id", "superseded by a newer preview request of this node",
                                             status=409))
    return web.Response(status=200, body=payload, content_type="image/png")


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
