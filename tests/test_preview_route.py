"""The live preview route: request validation, rendering, the aiohttp handler and registration."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import types

import numpy as np
import pytest
from PIL import Image

from fakes.comfy_host import fake_host, pack  # noqa: F401  (fixtures)

H, W = 48, 64


def _scene(two_objects: bool = False):
    from levitor.planning.scene import make_scene

    image = np.full((H, W, 3), 90, dtype=np.uint8)
    d8 = np.full((H, W), 20, dtype=np.uint8)
    ball = np.zeros((H, W), dtype=bool)
    ball[20:30, 5:15] = True  # 10x10 square, centre (9.5, 24.5)
    d8[ball] = 100
    masks = [ball]
    if two_objects:
        box = np.zeros((H, W), dtype=bool)
        box[5:12, 40:50] = True
        d8[box] = 120
        masks.append(box)
    return make_scene(image, 1.0 / d8.astype(np.float64), masks)


@pytest.fixture
def route(pack):
    """The preview route module of the pack, as ComfyUI imports it (the one copy of ``nodes``)."""
    return pack.nodes.preview_route


@pytest.fixture
def stored_scene(route):
    route.scene_cache.forget_all()
    scene = _scene()
    route.scene_cache.remember_scene("7", scene)
    yield scene
    route.scene_cache.forget_all()


def _png(payload: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(payload)))


def _body(points, num_frames=4, frame=None, node_id="7", image_size=None):
    tracks = {"format": "levitor-tracks", "version": 1, "tracks": [{"points": points}]}
    if image_size:
        tracks["image_size"] = image_size
    return {"node_id": node_id, "tracks": tracks, "num_frames": num_frames, "frame": frame}


def test_moved_object_appears_at_the_end_of_its_track(route, stored_scene):
    depth = 0.01
    status, ctype, payload = route.handle_preview(json.dumps(_body([[10, 25, depth], [50, 25, depth]], frame=3)))
    assert (status, ctype) == (200, "image/png")
    rgba = _png(payload)
    assert rgba.shape == (H, W, 4)
    alpha = rgba[..., 3]
    # The square moved 40 px right: its old place is empty, the new one covered, in the object colour.
    assert alpha[22:28, 7:13].max() == 0
    assert alpha[22:28, 47:53].min() == 255
    cols = np.nonzero(alpha.any(axis=0))[0]
    assert 43 <= cols.min() and cols.max() <= 56
    assert tuple(rgba[25, 50, :3]) != (0, 0, 0)


def test_frame_zero_is_the_rest_pose_and_null_is_the_last_frame(route, stored_scene):
    body = _body([[10, 25, 0.01], [50, 25, 0.01]], frame=0)
    a0 = _png(route.handle_preview(body)[2])[..., 3]
    assert a0[22:28, 7:13].min() == 255 and a0[:, 40:].max() == 0
    last = _png(route.handle_preview(_body([[10, 25, 0.01], [50, 25, 0.01]], frame=None))[2])
    explicit = _png(route.handle_preview(_body([[10, 25, 0.01], [50, 25, 0.01]], frame=3))[2])
    np.testing.assert_array_equal(last, explicit)


def test_the_preview_follows_the_tracks_timing(route, stored_scene):
    # Keyed at frame 1: at frame 1 of 4 the square is already at the end (40 px right), where
    # without the keyframe it would be a third of the way.
    keyed = _png(route.handle_preview(_body([[10, 25, 0.01], [50, 25, 0.01, 1]], frame=1))[2])[..., 3]
    assert keyed[22:28, 47:53].min() == 255 and keyed[:, :40].max() == 0
    plain = _png(route.handle_preview(_body([[10, 25, 0.01], [50, 25, 0.01]], frame=1))[2])[..., 3]
    assert plain[22:28, 47:53].max() == 0
    # A keyframe past the request's last frame is a 400 naming the point.
    status, _, payload = route.handle_preview(_body([[10, 25, 0.01], [50, 25, 0.01, 9]], frame=1))
    err = json.loads(payload)
    assert status == 400 and err["field"] == "tracks" and "point 1 has frame 9" in err["error"], err


def test_points_are_rescaled_from_the_editor_image_size(route, stored_scene):
    # Drawn on a 2x larger image: x 100 there is x 50 here.
    body = _body([[20, 50, 0.01], [100, 50, 0.01]], frame=3, image_size=[2 * W, 2 * H])
    alpha = _png(route.handle_preview(body)[2])[..., 3]
    assert alpha[22:28, 47:53].min() == 255


def test_moving_nearer_makes_the_object_larger(route, stored_scene):
    far = _png(route.handle_preview(_body([[10, 25, 0.01], [32, 24, 0.01]], frame=3))[2])[..., 3]
    near = _png(route.handle_preview(_body([[10, 25, 0.01], [32, 24, 0.005]], frame=3))[2])[..., 3]
    assert (near > 0).sum() > 1.5 * (far > 0).sum()


def test_empty_and_missing_tracks_stay_in_place(route):
    route.scene_cache.forget_all()
    route.scene_cache.remember_scene("9", _scene(two_objects=True))
    body = {"node_id": "9", "num_frames": 3, "frame": 2,
            "tracks": {"tracks": [{"points": []}, {"points": [[45, 8, 0.008], [45, 40, 0.008]]}]}}
    status, _, payload = route.handle_preview(body)
    assert status == 200
    alpha = _png(payload)[..., 3]
    assert alpha[22:28, 7:13].min() == 255  # object 1 stays
    assert alpha[5:12, 40:50].max() == 0  # object 2 left its place
    # Only the first track given: the second object stays.
    body["tracks"] = [[[10, 25, 0.01], [10, 40, 0.01]]]
    alpha = _png(route.handle_preview(body)[2])[..., 3]
    assert alpha[6:11, 41:49].min() == 255
    route.scene_cache.forget_all()


@pytest.mark.parametrize(
    "body, field, text",
    [
        ("{oops", "body", "not valid JSON"),
        ([1, 2], "body", "JSON object"),
        ({"tracks": [], "num_frames": 4}, "node_id", "node_id"),
        ({"node_id": "7", "num_frames": 4}, "tracks", "'tracks' is required"),
        ({"node_id": "7", "tracks": [], "num_frames": 0}, "num_frames", "between 1 and"),
        ({"node_id": "7", "tracks": [], "num_frames": "16"}, "num_frames", "must be an integer"),
        ({"node_id": "7", "tracks": [], "num_frames": 16, "frame": 16}, "frame", "between 0 and"),
        ({"node_id": "7", "tracks": [], "num_frames": 16, "frame": 1.5}, "frame", "must be an integer"),
        ('{"node_id": "7", "tracks": [], "num_frames": 1e999}', "num_frames", "must be an integer"),
        ('{"node_id": "7", "tracks": [], "num_frames": NaN}', "num_frames", "must be an integer"),
        ({"node_id": True, "tracks": [], "num_frames": 4}, "node_id", "node_id"),
    ],
)
def test_bad_requests_name_the_field(route, body, field, text):
    with pytest.raises(route.PreviewError) as info:
        route.parse_request(body if not isinstance(body, (dict, list)) else json.dumps(body))
    assert info.value.field == field and text in str(info.value)
    status, ctype, payload = route.handle_preview(body)
    assert status == 400 and ctype == "application/json"
    assert json.loads(payload)["field"] == field


@pytest.mark.parametrize(
    "tracks, text",
    [
        ({"tracks": [{"points": [[10, 25, 0.0]]}]}, "depth"),
        ({"tracks": [{"points": [[10, 25]]}]}, "track 0 point 0"),
        ({"tracks": [[[1, 1, 0.5]], [[1, 1, 0.5]], [[1, 1, 0.5]]]}, "3 tracks but the scene has 1 objects"),
        ("{nope", "not valid JSON"),
        ({"tracks": 5}, "list of tracks"),
    ],
)
def test_bad_tracks_are_400_naming_tracks(route, stored_scene, tracks, text):
    status, _, payload = route.handle_preview({"node_id": "7", "tracks": tracks, "num_frames": 4, "frame": 1})
    err = json.loads(payload)
    assert status == 400 and err["field"] == "tracks" and text in err["error"], err


def test_missing_scene_names_node_id(route):
    route.scene_cache.forget_all()
    status, _, payload = route.handle_preview(_body([[1, 1, 0.5]], node_id="404"))
    err = json.loads(payload)
    assert status == 400 and err["field"] == "node_id" and "run the workflow once" in err["error"]


def test_register_routes_without_a_server_is_not_an_error(route, monkeypatch):
    monkeypatch.setitem(sys.modules, "server", None)  # import of `server` fails
    monkeypatch.setattr(route, "_registered", False)
    assert route.register_routes() is False


def test_register_routes_adds_the_post_route(route, monkeypatch):
    web = pytest.importorskip("aiohttp.web")
    routes = web.RouteTableDef()
    fake = types.ModuleType("server")
    fake.PromptServer = type("PromptServer", (), {"instance": types.SimpleNamespace(routes=routes)})
    monkeypatch.setitem(sys.modules, "server", fake)
    monkeypatch.setattr(route, "_registered", False)
    assert route.register_routes() is True
    assert route.register_routes() is True  # idempotent
    posts = [r for r in routes if r.method == "POST" and r.path == "/levitor/preview"]
    assert len(posts) == 1


def test_aiohttp_handler_answers_png_and_json_errors(route, stored_scene):
    web = pytest.importorskip("aiohttp.web")
    from aiohttp.test_utils import TestClient, TestServer

    async def run():
        routes = web.RouteTableDef()
        route.add_routes(routes)
        app = web.Application()
        app.add_routes(routes)
        async with TestClient(TestServer(app)) as client:
            ok = await client.post("/levitor/preview", json=_body([[10, 25, 0.01], [50, 25, 0.01]], frame=3))
            png = await ok.read()
            bad = await client.post("/levitor/preview", json={"node_id": "7", "tracks": [], "num_frames": -1})
            err = await bad.json()
            return ok.status, ok.headers["Content-Type"], png, bad.status, err

    status, ctype, png, bad_status, err = asyncio.run(run())
    assert status == 200 and ctype.startswith("image/png")
    assert _png(png)[22:28, 47:53, 3].min() == 255
    assert bad_status == 400 and err["field"] == "num_frames"


def _app(route):
    web = pytest.importorskip("aiohttp.web")
    routes = web.RouteTableDef()
    route.add_routes(routes)
    app = web.Application()
    app.add_routes(routes)
    return app


def test_concurrent_requests_one_render_per_node_a_bounded_queue_and_the_newest_wins(route, monkeypatch):
    """Renders are held until released, so the test sees the queue's state at each step."""
    import threading

    from aiohttp.test_utils import TestClient, TestServer

    release = threading.Event()
    lock = threading.Lock()
    state = {"now": 0, "most": 0, "nodes": [], "per_node_most": 0, "per_node": {}}

    def slow_render(request):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            state["per_node"][request.node_id] = state["per_node"].get(request.node_id, 0) + 1
            state["per_node_most"] = max(state["per_node_most"], state["per_node"][request.node_id])
            state["nodes"].append((request.node_id, request.frame))
        release.wait(10)
        with lock:
            state["now"] -= 1
            state["per_node"][request.node_id] -= 1
        return b"png:%d" % request.frame

    monkeypatch.setattr(route, "render_preview_png", slow_render)

    async def until(test):
        for _ in range(500):
            if test():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the queue did not reach the expected state")

    async def run():
        queue = route.PreviewQueue(max_renders=1, max_waiting=2)
        monkeypatch.setattr(route, "preview_queue", lambda: queue)
        async with TestClient(TestServer(_app(route))) as client:
            def post(node, frame):
                body = {"node_id": node, "tracks": [], "num_frames": 8, "frame": frame}
                return asyncio.ensure_future(client.post("/levitor/preview", json=body))

            a1 = post("a", 1)
            await until(lambda: queue.running == 1)
            a2 = post("a", 2)
            await until(lambda: queue.waiting == 1)
            a3 = post("a", 3)  # replaces a2, which is answered at once
            r2 = await a2
            assert r2.status == 409 and (await r2.json())["field"] == "node_id"
            b4 = post("b", 4)
            await until(lambda: queue.waiting == 2)
            r5 = await post("c", 5)  # the queue is full
            assert r5.status == 429 and r5.headers["Retry-After"] == "1"
            assert "too many preview requests" in (await r5.json())["error"]
            release.set()
            r1, r3, r4 = await a1, await a3, await b4
            assert r1.status == 409  # a newer request of node a discarded its result
            assert (r3.status, await r3.read()) == (200, b"png:3")
            assert (r4.status, await r4.read()) == (200, b"png:4")
            assert queue.running == 0 and queue.waiting == 0

    asyncio.run(run())
    assert state["most"] == 1 and state["per_node_most"] == 1
    assert sorted(state["nodes"]) == [("a", 1), ("a", 3), ("b", 4)]  # a2 and c5 never rendered


def test_two_renders_at_once_but_never_two_of_one_node(route, monkeypatch):
    import threading

    from aiohttp.test_utils import TestClient, TestServer

    release = threading.Event()
    lock = threading.Lock()
    running = []
    seen = []

    def slow_render(request):
        with lock:
            running.append(request.node_id)
            seen.append(sorted(running))
        release.wait(10)
        with lock:
            running.remove(request.node_id)
        return b"ok"

    monkeypatch.setattr(route, "render_preview_png", slow_render)

    async def run():
        queue = route.PreviewQueue(max_renders=2, max_waiting=4)
        monkeypatch.setattr(route, "preview_queue", lambda: queue)
        async with TestClient(TestServer(_app(route))) as client:
            body = {"tracks": [], "num_frames": 4, "frame": 0}
            a = asyncio.ensure_future(client.post("/levitor/preview", json={**body, "node_id": "a"}))
            for _ in range(500):
                if queue.running == 1:
                    break
                await asyncio.sleep(0.01)
            a2 = asyncio.ensure_future(client.post("/levitor/preview", json={**body, "node_id": "a"}))
            b = asyncio.ensure_future(client.post("/levitor/preview", json={**body, "node_id": "b"}))
            for _ in range(500):
                if queue.running == 2 and queue.waiting == 1:
                    break
                await asyncio.sleep(0.01)
            assert queue.running == 2 and queue.waiting == 1  # a and b render, a2 waits for a
            release.set()
            return [(await r).status for r in (a, a2, b)]

    assert asyncio.run(run()) == [409, 200, 200]
    assert max(len(s) for s in seen) == 2 and all(len(set(s)) == len(s) for s in seen)


def test_body_limit_holds_for_chunked_bodies(route, stored_scene):
    from aiohttp.test_utils import TestClient, TestServer

    from levitor.limits import MAX_JSON_BYTES

    async def chunks(total):
        sent = 0
        while sent < total:
            yield b" " * 65536
            sent += 65536

    async def run():
        async with TestClient(TestServer(_app(route))) as client:
            big = await client.post("/levitor/preview", data=chunks(MAX_JSON_BYTES + 70000))
            sized = await client.post("/levitor/preview", data=b" " * (MAX_JSON_BYTES + 1))

            async def small():
                yield json.dumps(_body([[10, 25, 0.01], [50, 25, 0.01]], frame=3)).encode()

            ok = await client.post("/levitor/preview", data=small())
            return big.status, await big.json(), sized.status, ok.status, await ok.read()

    big_status, err, sized_status, ok_status, png = asyncio.run(run())
    assert big_status == 413 and err["field"] == "body" and "larger than 2097152 bytes" in err["error"]
    assert sized_status == 413
    assert ok_status == 200 and _png(png)[22:28, 47:53, 3].min() == 255


@pytest.mark.parametrize("body, field, text", [
    ({"node_id": "7", "tracks": [], "num_frames": 129}, "num_frames", "between 1 and 128"),
    ({"node_id": "7", "tracks": [], "num_frames": 10 ** 400}, "num_frames", "between 1 and 128"),
    ({"node_id": "7", "tracks": "[" * 100 + "]" * 100, "num_frames": 4}, "tracks", "deeper than 32"),
    ('{"node_id": "7", "tracks": ' + "[" * 5000 + "]" * 5000 + ', "num_frames": 4}', "body", "deeper than 32"),
])
def test_renders_are_bounded_like_the_library(route, stored_scene, body, field, text):
    status, _, payload = route.handle_preview(body if isinstance(body, str) else json.dumps(body))
    err = json.loads(payload)
    assert status == 400 and err["field"] == field and text in err["error"], err


def test_the_scene_is_lifted_once_and_one_frame_is_rendered(route, stored_scene, monkeypatch):
    lifts, rendered = [], []
    real_lift, real_render = route.lift_scene, route.render_stage
    monkeypatch.setattr(route, "lift_scene", lambda scene, device=None: lifts.append(1) or real_lift(scene, device))

    def render(scene, tracks, options=None, **kw):
        rendered.append(kw["frames"])
        return real_render(scene, tracks, options, **kw)

    monkeypatch.setattr(route, "render_stage", render)
    route._lift_cache.clear()
    for frame in (1, 3, 2):
        assert route.handle_preview(_body([[10, 25, 0.01], [50, 25, 0.01]], frame=frame))[0] == 200
    assert lifts == [1] and rendered == [[1], [3], [2]]


@pytest.fixture
def coloured_scene(route):
    """The test scene with a red square on a grey background, stored for node 8."""
    from levitor.planning.scene import make_scene

    plain = _scene()
    image = np.full((H, W, 3), 90, dtype=np.uint8)
    image[plain.labels == 1] = (230, 20, 20)
    scene = make_scene(image, plain.depth, [plain.labels == 1])
    route.scene_cache.remember_scene("8", scene)
    yield scene
    route.scene_cache.forget_all()


def test_warped_mode_answers_the_warped_frame(route, coloured_scene):
    from levitor.planning.options import PlanOptions
    from levitor.planning.stages import render_stage
    from levitor.planning.warp import warp_render

    points = [[10, 25, 0.01], [50, 25, 0.01]]
    body = {**_body(points, frame=2, node_id="8"), "mode": "warped"}
    status, ctype, payload = route.handle_preview(json.dumps(body))
    assert (status, ctype) == (200, "image/png")
    rgb = _png(payload)
    assert rgb.shape == (H, W, 3)
    # two thirds of the way: the square's centre at x 9.5 + 40 * 2/3 = 36.2
    assert (rgb[22:28, 33:39] == (230, 20, 20)).all()
    assert (rgb[22:28, 5:9] == 90).all()  # its old place, away from it now, takes the grey around it
    assert (rgb[:15] == 90).all() and (rgb[35:] == 90).all()  # rows no object reaches
    full = warp_render(render_stage(coloured_scene, [points], PlanOptions(num_frames=4)))
    np.testing.assert_array_equal(rgb, full.frames[2])
    masks = _png(route.handle_preview(json.dumps({**body, "mode": "masks"}))[2])
    assert masks.shape == (H, W, 4)  # the default view is unchanged


@pytest.mark.parametrize("mode", ["warp", 3, ["warped"], ""])
def test_an_unknown_mode_is_400_naming_mode(route, coloured_scene, mode):
    status, ctype, payload = route.handle_preview({**_body([[1, 1, 0.5]], node_id="8"), "mode": mode})
    assert status == 400 and ctype == "application/json" and json.loads(payload)["field"] == "mode"
def test_bodies_with_a_content_encoding_are_decoded_or_refused(route, stored_scene):
    """``Content-Encoding: gzip`` (or deflate) is decoded by the server: a body that is not what it
    says is a 400 naming the body, a decoded body above the limit is a 413, a real one works."""
    import gzip
    import zlib

    from aiohttp.test_utils import TestClient, TestServer

    from levitor.limits import MAX_JSON_BYTES

    good = json.dumps(_body([[10, 25, 0.01], [50, 25, 0.01]], frame=3)).encode()
    bomb = gzip.compress(b" " * (MAX_JSON_BYTES + 1000) + good)  # 2 MB of spaces in a few KB

    async def run():
        found = []
        for encoding, data in (("gzip", b"this is not gzip"), ("gzip", good), ("deflate", b"\x00\x01\x02"),
                               ("gzip", gzip.compress(good)[:-12]), ("gzip", bomb),
                               ("gzip", gzip.compress(good)), ("deflate", zlib.compress(good))):
            async with TestClient(TestServer(_app(route))) as client:  # the server closes a connection it could not read
                r = await client.post("/levitor/preview", data=data, headers={
                    "Content-Encoding": encoding, "Content-Type": "application/json"})
                json_answer = r.headers["Content-Type"].startswith("application/json")
                found.append((r.status, await (r.json() if json_answer else r.read())))
        return found

    found = asyncio.run(run())
    assert len(bomb) < 10_000
    for status, err in found[:2]:
        assert status == 400 and err["field"] == "body" and "could not be decoded" in err["error"], (status, err)
    assert found[2][0] == 400  # a body this short fails in the server's parser, before the route: a plain 400
    assert found[3][0] == 400 and found[3][1]["field"] == "body"  # cut gzip: the JSON in it is cut
    assert found[4][0] == 413 and found[4][1]["field"] == "body"
    for status, png in found[5:]:
        assert status == 200 and _png(png)[22:28, 47:53, 3].min() == 255
