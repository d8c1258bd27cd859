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
