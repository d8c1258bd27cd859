"""The trajectory editor and SAM picker in headless Chromium, on a small test page.

The page (``harness.html``) fakes the few ComfyUI node objects the editors use; a local
http.server serves the repository, the scene PNGs and the real preview route. Clicks, drags,
wheel and keys go through WebDriver, and the test checks the JSON written into the node's
STRING widgets and key pixels of a screenshot.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from chromium import chromium, find_browser
from PIL import Image

from fakes.comfy_host import load_pack

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
W, H = 120, 160
BG = (60, 90, 120)
OBJ = (200, 40, 40)
SQUARE = (slice(70, 90), slice(20, 40))  # rows, cols: centre (x 30, y 80)
TRACK0 = (230, 57, 70)  # first object colour in the editor
BOX2 = (slice(20, 40), slice(80, 110))  # a second object: rows, cols (centre x 95, y 30)


CHROME, CHROMEDRIVER, MISSING = find_browser()
if MISSING:
    pytest.skip("browser test needs " + ", ".join(MISSING), allow_module_level=True)

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


def _scene_arrays():
    image = np.zeros((H, W, 3), dtype=np.uint8)
    image[:] = BG
    image[SQUARE] = OBJ
    d8 = np.full((H, W), 20, dtype=np.uint8)
    d8[SQUARE] = 100  # reference depth 0.01
    labels = np.zeros((H, W), dtype=np.uint8)
    labels[SQUARE] = 1
    return image, d8, labels


class _Handler(SimpleHTTPRequestHandler):
    assets: Path = Path()
    posts: list = []

    def log_message(self, *args):  # keep the test output clean
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def translate_path(self, path):
        if path.startswith("/assets/"):
            name = os.path.basename(path.split("?", 1)[0])
            return str(self.assets / name)
        return super().translate_path(path)

    def do_POST(self):
        handle_preview = load_pack().nodes.preview_route.handle_preview
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.split("?", 1)[0] != "/levitor/preview":
            self.send_error(404)
            return
        self.posts.append(json.loads(body))
        status, ctype, payload = handle_preview(body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def server():
    from levitor.planning.scene import make_scene

    scene_cache = load_pack().nodes.scene_cache

    tmp = Path(tempfile.mkdtemp(prefix="levitor_web_"))
    image, d8, labels = _scene_arrays()
    Image.fromarray(image).save(tmp / "image.png")
    Image.fromarray(d8).save(tmp / "depth8.png")
    Image.fromarray(labels).save(tmp / "labels.png")
    Image.fromarray((labels > 0).astype(np.uint8) * 255).save(tmp / "mask.png")
    labels2 = labels.copy()
    labels2[BOX2] = 2
    Image.fromarray(labels2).save(tmp / "labels2.png")
    d8_2 = d8.copy()
    d8_2[BOX2] = 50  # reference depth 0.02
    Image.fromarray(d8_2).save(tmp / "depth8_2.png")
    scene_cache.remember_scene("7", make_scene(image, 1.0 / d8.astype(np.float64), [labels > 0]))

    handler = type("Handler", (_Handler,), {"assets": tmp, "posts": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(ROOT)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()
    scene_cache.forget_all()
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def driver(server):
    with chromium((1000, 900)) as drv:
        drv.get(server[0] + "/tests/browser/harness.html")
        _wait(drv, "return window.harnessReady === true")
        yield drv


def _wait(drv, script, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        value = drv.execute_script(script)
        if value:
            return value
        time.sleep(0.05)
    logs = drv.get_log("browser") if hasattr(drv, "get_log") else []
    raise AssertionError(f"timed out waiting for: {script}\nbrowser log: {logs}")


def _draw(drv, which="traj"):
    drv.execute_script(f"window.harness.{which}.drawNow()")


class Mapper:
    """Image pixel -> offsets from the canvas centre, computed independently of the editor code."""

    def __init__(self, drv, canvas, pad=4):
        r = drv.execute_script("const r = arguments[0].getBoundingClientRect();"
                               "return [r.left, r.top, r.width, r.height, arguments[0].width, arguments[0].height];",
                               canvas)
        self.left, self.top, self.w, self.h, cw, ch = r
        assert abs(cw - self.w) <= 1 and abs(ch - self.h) <= 1, "canvas backing store follows its size"
        self.scale = min((cw - 2 * pad) / W, (ch - 2 * pad) / H)
        self.ox = (cw - W * self.scale) / 2
        self.oy = (ch - H * self.scale) / 2
        self.canvas = canvas

    def page(self, x, y):
        return self.left + self.ox + x * self.scale, self.top + self.oy + y * self.scale

    def offset(self, x, y):
        px, py = self.page(x, y)
        return round(px - (self.left + self.w / 2)), round(py - (self.top + self.h / 2))


def _tracks(drv):
    return json.loads(drv.execute_script("return window.harness.tracksText()"))


def _screenshot(drv):
    return np.asarray(Image.open(io.BytesIO(drv.get_screenshot_as_png())).convert("RGB")).astype(int)


def _close(pixel, expected, tol):
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, expected))


def _scene_message():
    ref = lambda name: {"filename": name, "subfolder": "levitor", "type": "temp"}  # noqa: E731
    return {"levitor_scene": [{"image": ref("image.png"), "depth8": ref("depth8.png"), "labels": ref("labels.png"),
                               "width": W, "height": H, "num_objects": 1}]}


def test_widgets_are_not_serialized(driver):
    flags = driver.execute_script(
        "const h = window.harness; return [h.trajNode.domWidgets[0].options.serialize, h.trajNode.domWidgets[0].serialize,"
        " h.samNode.domWidgets[0].options.serialize, h.samNode.domWidgets[0].serialize]")
    assert flags == [False, False, False, False]


def test_trajectory_editing_with_mouse_wheel_and_keys(driver, server):
    drv = driver
    drv.execute_async_script("window.harness.traj.onExecuted(arguments[0]).then(arguments[1])", _scene_message())
    _wait(drv, "return !!(window.harness.traj.image && window.harness.traj.depth8 && window.harness.traj.labels)")
    _draw(drv)
    canvas = drv.find_element(By.CSS_SELECTOR, "#traj canvas.lv-main")
    m = Mapper(drv, canvas)
    tol = 1.0 / m.scale + 0.01  # one canvas pixel of rounding, in image pixels

    # Click on the object: the first point takes the scene depth under the cursor (1/100).
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(30, 80)).click().perform()
    t = _tracks(drv)
    assert t["format"] == "levitor-tracks" and t["version"] == 1 and t["image_size"] == [W, H]
    assert len(t["tracks"]) == 1 and len(t["tracks"][0]["points"]) == 1
    x, y, d = t["tracks"][0]["points"][0]
    assert abs(x - 30) <= tol and abs(y - 80) <= tol and d == pytest.approx(0.01)

    # Second click elsewhere appends a point with the previous point's depth.
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(90, 80)).click().perform()
    pts = _tracks(drv)["tracks"][0]["points"]
    assert len(pts) == 2 and abs(pts[1][0] - 90) <= tol and pts[1][2] == pytest.approx(0.01)

    # Drag the second point down.
    dx, dy = m.offset(90, 120)
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(90, 80)).click_and_hold() \
        .move_to_element_with_offset(canvas, dx, dy - 10).move_to_element_with_offset(canvas, dx, dy).release().perform()
    pts = _tracks(drv)["tracks"][0]["points"]
    assert len(pts) == 2 and abs(pts[1][0] - 90) <= tol and abs(pts[1][1] - 120) <= tol

    # Two wheel notches away from the viewer over the point: depth x 1.05^2, one undo step.
    for _ in range(2):
        ActionChains(drv).scroll_from_origin(ScrollOrigin.from_element(canvas, dx, dy), 0, 120).perform()
    _wait(drv, "return JSON.parse(window.harness.tracksText()).tracks[0].points[1][2] > 0.0105")
    pts = _tracks(drv)["tracks"][0]["points"]
    assert pts[1][2] == pytest.approx(0.01 * 1.05 ** 2, abs=1e-4)
    assert pts[0][2] == pytest.approx(0.01)

    # A third point, deleted by right click, restored by Ctrl+Z, deleted again by the Delete key.
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(60, 30)).click().perform()
    assert len(_tracks(drv)["tracks"][0]["points"]) == 3
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(60, 30)).context_click().perform()
    assert len(_tracks(drv)["tracks"][0]["points"]) == 2
    ActionChains(drv).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    assert len(_tracks(drv)["tracks"][0]["points"]) == 3
    ActionChains(drv).send_keys(Keys.DELETE).perform()
    pts = _tracks(drv)["tracks"][0]["points"]
    assert len(pts) == 2 and abs(pts[1][1] - 120) <= tol

    # Undo history: Delete, the third point, both wheel notches as one step, the drag.
    undo = "window.harness.traj.model.undo(); window.harness.traj.commit()"
    drv.execute_script(undo)
    drv.execute_script(undo)
    pts = _tracks(drv)["tracks"][0]["points"]
    assert len(pts) == 2 and pts[1][2] == pytest.approx(0.011, abs=1e-4)
    drv.execute_script(undo)
    pts = _tracks(drv)["tracks"][0]["points"]
    assert pts[1][2] == pytest.approx(0.01) and abs(pts[1][1] - 120) <= tol
    drv.execute_script(undo)
    assert abs(_tracks(drv)["tracks"][0]["points"][1][1] - 80) <= tol
    drv.execute_script("for (let i = 0; i < 4; i++) window.harness.traj.model.redo(); window.harness.traj.commit()")
    pts = _tracks(drv)["tracks"][0]["points"]
    assert len(pts) == 2 and pts[1][2] == pytest.approx(0.011, abs=1e-4) and abs(pts[1][1] - 120) <= tol

    # Key pixels: point 0 in the track colour, the object tinted, the background untouched.
    drv.execute_script("window.harness.traj.hover = null")
    _draw(drv)
    img = _screenshot(drv)
    px = lambda x, y: img[int(round(m.page(x, y)[1])), int(round(m.page(x, y)[0]))]  # noqa: E731
    assert _close(px(30, 80), TRACK0, 6), px(30, 80)
    tinted = [0.4 * o + 0.6 * c for o, c in zip(OBJ, TRACK0)]  # active object: 0.6 tint
    assert _close(px(23, 88), tinted, 8), px(23, 88)
    assert _close(px(110, 150), BG, 3), px(110, 150)
    # The PCHIP path between the two points is drawn in the track colour.
    mid = np.array([px(60 + t, 100 + t) for t in range(-6, 7)])
    assert any(_close(p, TRACK0, 40) for p in mid)

    # The status line shows the scene depth under the cursor.
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(25, 75)).perform()
    _draw(drv)
    status = drv.find_element(By.CSS_SELECTOR, "#traj .lv-status").text
    assert "scene depth 0.0100" in status and "object 1" in status

    # Live preview of the last frame: the server renders the moved mask, the editor overlays it.
    base_post = len(server[1].posts)
    frame_input = drv.find_element(By.CSS_SELECTOR, "#traj input[type=range]")
    frame_input.send_keys(Keys.END)
    assert drv.execute_script("return window.harness.traj.frame") == 15
    _draw(drv)
    before = _screenshot(drv)
    drv.find_element(By.CSS_SELECTOR, "#traj input[type=checkbox]").click()
    _wait(drv, "return window.harness.traj.previewImg !== null")
    _draw(drv)
    after = _screenshot(drv)
    assert len(server[1].posts) > base_post
    body = server[1].posts[-1]
    assert body["node_id"] == "7" and body["num_frames"] == 16 and body["frame"] == 15
    assert body["tracks"]["tracks"][0]["points"][1][1] == pytest.approx(120, abs=tol)
    # Where the object ends (around x 90, y 120; away from the drawn path and labels) the overlay shows.
    bx, by = (int(round(v)) for v in m.page(82, 121))
    assert np.abs(after[by, bx] - before[by, bx]).sum() > 60, (before[by, bx], after[by, bx])
    fx, fy = (int(round(v)) for v in m.page(110, 20))
    assert np.abs(after[fy, fx] - before[fy, fx]).sum() <= 6
    drv.find_element(By.CSS_SELECTOR, "#traj input[type=checkbox]").click()


def test_preview_toggle_shows_the_warped_frame(driver, server):
    """The warped toggle beside the preview's: it asks the route for the warped frame and
    draws it in place of the image (the object at its moved place, the background where it was)."""
    drv = driver
    drv.get(server[0] + "/tests/browser/harness.html")  # a fresh editor
    _wait(drv, "return window.harnessReady === true")
    drv.execute_async_script("window.harness.traj.onExecuted(arguments[0]).then(arguments[1])", _scene_message())
    _wait(drv, "return !!(window.harness.traj.image && window.harness.traj.depth8 && window.harness.traj.labels)")
    drv.execute_script("window.harness.handEdit(window.harness.trajNode,"
                       " '{\"tracks\": [{\"points\": [[30, 80, 0.01], [90, 80, 0.01]]}]}')")
    drv.execute_script("window.harness.traj.setFrame(15, false)")
    canvas = drv.find_element(By.CSS_SELECTOR, "#traj canvas")
    m = Mapper(drv, canvas)
    warped = drv.find_element(By.CSS_SELECTOR, "#traj input.lv-warped")
    assert warped.find_element(By.XPATH, "..").text.strip() == "warped"
    base_post = len(server[1].posts)
    warped.click()
    _wait(drv, "const e = window.harness.traj; return e.previewImg !== null && e.previewImgMode === 'warped'")
    assert drv.execute_script("return window.harness.traj.previewToggle.checked") is True  # ticking it shows it
    body = server[1].posts[-1]
    assert len(server[1].posts) > base_post and body["mode"] == "warped" and body["frame"] == 15
    _draw(drv)
    shot = _screenshot(drv)
    moved = [int(round(v)) for v in m.page(85, 86)]  # inside the square moved 60 px right, off the path and labels
    left = [int(round(v)) for v in m.page(22, 86)]  # where the square was
    assert _close(shot[moved[1], moved[0]], OBJ, 12), shot[moved[1], moved[0]]
    assert _close(shot[left[1], left[0]], BG, 12), shot[left[1], left[0]]
    warped.click()  # back to the masks
    _wait(drv, "const e = window.harness.traj; return e.previewImg !== null && e.previewImgMode === 'masks'")
    assert server[1].posts[-1]["mode"] == "masks"
    drv.execute_script("const e = window.harness.traj; e.previewToggle.checked = false; e.previewImg = null;")


def test_hand_edits_flow_into_the_editor(driver):
    drv = driver
    drv.execute_script("window.harness.handEdit(window.harness.trajNode,"
                       " '{\"image_size\": [60, 80], \"tracks\": [{\"points\": [[15, 40, 0.5], [30, 20, 0.25]]}]}')")
    pts = drv.execute_script("return window.harness.traj.model.tracks[0].points")
    # Drawn on a 60x80 image: rescaled to the 120x160 background.
    assert pts == [[30, 80, 0.5], [60, 40, 0.25]]
    drv.execute_script("window.harness.handEdit(window.harness.trajNode, '{\"tracks\": 3}')")
    _draw(drv)
    status = drv.find_element(By.CSS_SELECTOR, "#traj .lv-status")
    assert "tracks_json" in status.text and "lv-error" in status.get_attribute("class")
    assert drv.execute_script("return window.harness.traj.model.tracks[0].points.length") == 2


def test_keyframe_and_easing_controls_write_the_timing(driver):
    drv = driver
    drv.execute_script("window.harness.handEdit(window.harness.trajNode,"
                       " '{\"tracks\": [{\"points\": [[10, 40, 0.5], [30, 40, 0.25], [50, 40, 0.25]]}]}')")
    drv.execute_script("window.harness.traj.model.selectPoint(0, 1); window.harness.traj.drawNow()")
    # A typed depth outside [0.0001, 1] is an error in the status line, never clamped; one inside is kept.
    depth = drv.find_element(By.CSS_SELECTOR, "#traj input[step='0.0001']")
    depth.send_keys(Keys.CONTROL, "a")
    depth.send_keys("0.00005", Keys.TAB)
    _draw(drv)
    status = drv.find_element(By.CSS_SELECTOR, "#traj .lv-status")
    assert "[0.0001, 1]" in status.text and "lv-error" in status.get_attribute("class")
    assert _tracks(drv)["tracks"][0]["points"][1] == [30, 40, 0.25]
    depth.send_keys(Keys.CONTROL, "a")
    depth.send_keys("0.001", Keys.TAB)  # nearer than an 8-bit depth map shows: still a valid depth
    assert _tracks(drv)["tracks"][0]["points"][1] == [30, 40, 0.001]
    drv.execute_script("window.harness.traj.model.undo(); window.harness.traj.commit()")
    key = drv.find_element(By.CSS_SELECTOR, "#traj input[placeholder=auto]")
    key.send_keys("5", Keys.TAB)
    Select(drv.find_element(By.CSS_SELECTOR, "#traj select[title^=Easing]")).select_by_value("ease-in")
    t = _tracks(drv)
    assert t["version"] == 2
    assert t["tracks"][0] == {"easing": "ease-in", "points": [[10, 40, 0.5], [30, 40, 0.25, 5], [50, 40, 0.25]]}
    # The editor's curve reaches point 1 at frame 5 exactly (16 frames in the harness).
    assert drv.execute_script("return window.harness.traj.model.resampled(0, 16)[5]") == [30, 40, 0.25]
    # A frame past the last one is refused with a message; the text keeps the keyframe.
    key.send_keys(Keys.CONTROL, "a")
    key.send_keys("40", Keys.TAB)
    _draw(drv)
    status = drv.find_element(By.CSS_SELECTOR, "#traj .lv-status")
    assert "frame" in status.text and "0 to 15" in status.text and "lv-error" in status.get_attribute("class")
    assert _tracks(drv)["tracks"][0]["points"][1] == [30, 40, 0.25, 5]
    # Emptying the field clears the keyframe; linear easing writes the version-1 text again.
    key.send_keys(Keys.CONTROL, "a")
    key.send_keys(Keys.DELETE, Keys.TAB)
    Select(drv.find_element(By.CSS_SELECTOR, "#traj select[title^=Easing]")).select_by_value("linear")
    t = _tracks(drv)
    assert t["version"] == 1 and t["tracks"][0] == {"points": [[10, 40, 0.5], [30, 40, 0.25], [50, 40, 0.25]]}

    # On the depth strip, dragging the last point's mark from frame 15 to frame 10 keys it there.
    _draw(drv)
    profile = drv.find_element(By.CSS_SELECTOR, "#traj canvas.lv-profile")
    w, h, sx, sy = drv.execute_script(
        "const c = window.harness.traj.profile, r = c.getBoundingClientRect(), [W, H] = c.lvCssSize;"
        "return [W, H, r.width / W, r.height / H]")
    mark = drv.execute_script("return window.harness.traj.profileMarks[2]")
    assert mark["x"] == pytest.approx(4 + (w - 8))  # the last point is at the last frame

    def at(x, y):
        return round((x - w / 2) * sx), round((y - h / 2) * sy)

    x10 = 4 + 10 / 15 * (w - 8)
    ActionChains(drv).move_to_element_with_offset(profile, *at(mark["x"], mark["y"])).click_and_hold() \
        .move_to_element_with_offset(profile, *at(x10 + 20, mark["y"])) \
        .move_to_element_with_offset(profile, *at(x10, mark["y"])).release().perform()
    assert _tracks(drv)["tracks"][0]["points"][2] == [50, 40, 0.25, 10]
    assert drv.execute_script("return window.harness.traj.model.selected") == 2
    drv.execute_script("window.harness.traj.model.undo(); window.harness.traj.commit()")  # the drag is one step
    assert _tracks(drv)["tracks"][0]["points"][2] == [50, 40, 0.25]


def test_sam_picker_points_and_mask(driver):
    drv = driver
    drv.execute_async_script(
        "window.harness.sam.onExecuted({levitor_sam: [{image: {filename: 'image.png'}, mask: {filename: 'mask.png'},"
        " width: arguments[0], height: arguments[1]}]}).then(arguments[2])", W, H)
    _wait(drv, "return !!(window.harness.sam.image && window.harness.sam.mask)")
    _draw(drv, "sam")
    canvas = drv.find_element(By.CSS_SELECTOR, "#sam canvas")
    m = Mapper(drv, canvas)
    tol = 1.0 / m.scale + 0.01
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(30, 80)).click().perform()
    ActionChains(drv).key_down(Keys.SHIFT).move_to_element_with_offset(canvas, *m.offset(100, 20)).click() \
        .key_up(Keys.SHIFT).perform()
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(100, 140)).context_click().perform()
    doc = json.loads(drv.execute_script("return window.harness.pointsText()"))
    assert doc["format"] == "levitor-points" and doc["version"] == 1 and doc["image_size"] == [W, H]
    labels = [p["label"] for p in doc["points"]]
    assert labels == [1, 0, 0]
    p0 = doc["points"][0]
    assert abs(p0["x"] - 30) <= tol and abs(p0["y"] - 80) <= tol
    # Alt+click removes the nearest point.
    ActionChains(drv).key_down(Keys.ALT).move_to_element_with_offset(canvas, *m.offset(100, 20)).click() \
        .key_up(Keys.ALT).perform()
    doc = json.loads(drv.execute_script("return window.harness.pointsText()"))
    assert [p["label"] for p in doc["points"]] == [1, 0]

    drv.execute_script("window.harness.sam.hover = null")
    _draw(drv, "sam")
    img = _screenshot(drv)
    px = lambda x, y, dx=0, dy=0: img[int(m.page(x, y)[1]) + dy, int(m.page(x, y)[0]) + dx]  # noqa: E731
    (pos, neg) = [(p["x"], p["y"]) for p in doc["points"]]
    ring = [(2, 3), (-3, 2), (3, -2), (-2, -3)]  # inside the dot, off the white sign
    assert any(_close(px(*pos, a, b), (40, 200, 80), 10) for a, b in ring)  # positive point: green
    assert any(_close(px(*neg, a, b), (230, 50, 50), 10) for a, b in ring)  # negative point: red
    # The positive dot carries a vertical bar ("+"), the negative one does not ("-").
    assert min(px(*pos, 0, b).sum() for b in (-2, 2)) > 600
    assert max(px(*neg, 0, b).sum() for b in (-2, 2)) < 400
    masked = [0.55 * o + 0.45 * c for o, c in zip(OBJ, (64, 160, 255))]
    assert _close(px(24, 86), masked, 8), px(24, 86)
    assert _close(px(60, 20), BG, 3), px(60, 20)

    # A second object: its clicks go into its own entry of "objects" (one mask per object).
    drv.find_element(By.XPATH, "//div[@id='sam']//button[text()='+ Object']").click()
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(90, 30)).click().perform()
    doc = json.loads(drv.execute_script("return window.harness.pointsText()"))
    assert "points" not in doc and len(doc["objects"]) == 2
    assert [p["label"] for p in doc["objects"][0]["points"]] == [1, 0]
    assert [p["label"] for p in doc["objects"][1]["points"]] == [1]
    assert abs(doc["objects"][1]["points"][0]["x"] - 90) <= tol
    select = drv.find_element(By.CSS_SELECTOR, "#sam select")
    assert select.get_attribute("value") == "1"
    ActionChains(drv).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    # Undo the click: the empty second object is not written, the first one is "points" again.
    doc = json.loads(drv.execute_script("return window.harness.pointsText()"))
    assert "objects" not in doc and [p["label"] for p in doc["points"]] == [1, 0]


def test_node_id_is_read_when_needed_and_upload_sets_the_background(driver, server):
    drv = driver
    # A node gets its graph id after creation: the preview must use the current one.
    assert drv.execute_script("const h = window.harness; h.trajNode.id = 42; const v = h.traj.binding.nodeId;"
                              " h.trajNode.id = 7; return v") == 42
    # The server's own id from the last run wins (nodes inside subgraphs have a path id there).
    drv.execute_script("const e = window.harness.traj; e.sceneNodeId = '5:7'; e.previewToggle.checked = true;"
                       " e.schedulePreview(0);")
    _wait(drv, "return window.harness.traj.error.includes('5:7')")
    assert server[1].posts[-1]["node_id"] == "5:7"
    drv.execute_script("const e = window.harness.traj; e.sceneNodeId = null; e.previewToggle.checked = false;"
                       " e.error = ''; e.previewImg = null;")
    # Upload (as from the file button, a paste or a drop): the host's /upload/image answers a
    # reference that becomes the background and is saved in the node's properties.
    result = drv.execute_async_script("""const done = arguments[0]; (async () => {
        const h = window.harness;
        const c = document.createElement("canvas"); c.width = 30; c.height = 20;
        const blob = await new Promise(r => c.toBlob(r, "image/png"));
        const before = h.calls.upload;
        await h.sam.upload(new File([blob], "pasted.png", { type: "image/png" }));
        done([h.calls.upload - before, h.samNode.properties.levitor_image, h.sam.image.naturalWidth, h.sam.mask]);
      })();""")
    assert result[0] == 1
    assert result[1] == {"filename": "image.png", "subfolder": "", "type": "input"}
    assert result[2] == W and result[3] is None  # the old mask is dropped with a new image


def test_high_dpi_canvas_is_sharp_and_keeps_coordinates(driver):
    drv = driver
    drv.execute_script("Object.defineProperty(window, 'devicePixelRatio', {configurable: true, get: () => 2});"
                       "window.harness.sam.drawNow();")
    try:
        canvas = drv.find_element(By.CSS_SELECTOR, "#sam canvas")
        w, h, bw, bh = drv.execute_script("const c = arguments[0], r = c.getBoundingClientRect();"
                                          "return [r.width, r.height, c.width, c.height];", canvas)
        assert abs(bw - 2 * w) <= 2 and abs(bh - 2 * h) <= 2
        scale = min((w - 8) / W, (h - 8) / H)
        ox, oy = (w - W * scale) / 2, (h - H * scale) / 2
        n_before = drv.execute_script("return window.harness.sam.model.totalPoints")
        ActionChains(drv).move_to_element_with_offset(canvas, round(ox + 60 * scale - w / 2),
                                                      round(oy + 100 * scale - h / 2)).click().perform()
        p = drv.execute_script("const m = window.harness.sam.model; return m.points[m.points.length - 1]")
        assert drv.execute_script("return window.harness.sam.model.totalPoints") == n_before + 1
        assert abs(p["x"] - 60) <= 1.5 / scale and abs(p["y"] - 100) <= 1.5 / scale
        # Drawn at device resolution: the new point's dot is in the backing store at 2x.
        color = drv.execute_script(
            "const c = arguments[0]; const d = c.getContext('2d').getImageData(arguments[1], arguments[2], 1, 1).data;"
            "return [d[0], d[1], d[2]];", canvas, round(2 * (ox + p["x"] * scale) + 5), round(2 * (oy + p["y"] * scale) + 5))
        assert _close(color, (40, 200, 80), 12), color
    finally:
        drv.execute_script("delete window.devicePixelRatio; window.harness.sam.drawNow();")


def test_two_objects_pick_tracks_by_clicking(driver, server):
    drv = driver
    drv.get(server[0] + "/tests/browser/harness.html")  # a fresh editor
    _wait(drv, "return window.harnessReady === true")
    msg = _scene_message()
    msg["levitor_scene"][0].update(labels={"filename": "labels2.png"}, depth8={"filename": "depth8_2.png"}, num_objects=2)
    drv.execute_async_script("window.harness.traj.onExecuted(arguments[0]).then(arguments[1])", msg)
    _wait(drv, "return !!(window.harness.traj.labels && window.harness.traj.numObjects === 2)")
    _draw(drv)
    canvas = drv.find_element(By.CSS_SELECTOR, "#traj canvas.lv-main")
    m = Mapper(drv, canvas)
    options = drv.execute_script(
        "return [...document.querySelectorAll('#traj select[title^=Track] option')].map(o => o.textContent)")
    assert [o.split(" ·")[0] for o in options] == ["object 1", "object 2"]
    # Both tracks empty: a click on object 2 starts object 2's track, at its scene depth (1/50).
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(95, 30)).click().perform()
    t = _tracks(drv)["tracks"]
    assert len(t) == 2 and t[0]["points"] == [] and len(t[1]["points"]) == 1
    assert t[1]["points"][0][2] == pytest.approx(0.02)
    assert drv.execute_script("return window.harness.traj.model.active") == 1
    drv.execute_script("window.harness.traj.hover = null")
    _draw(drv)
    assert "object 1 has no point yet" in drv.find_element(By.CSS_SELECTOR, "#traj .lv-status").text
    # A second click anywhere (even on object 1) extends the current track.
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(30, 80)).click().perform()
    t = _tracks(drv)["tracks"]
    assert len(t[1]["points"]) == 2 and t[1]["points"][1][2] == pytest.approx(0.02)
    # Ctrl+click on object 1 selects its track; the next click starts it with object 1's depth.
    ActionChains(drv).key_down(Keys.CONTROL).move_to_element_with_offset(canvas, *m.offset(25, 85)).click() \
        .key_up(Keys.CONTROL).perform()
    assert drv.execute_script("return window.harness.traj.model.active") == 0
    assert len(_tracks(drv)["tracks"][1]["points"]) == 2  # Ctrl+click added nothing
    ActionChains(drv).move_to_element_with_offset(canvas, *m.offset(35, 75)).click().perform()
    t = _tracks(drv)["tracks"]
    assert len(t[0]["points"]) == 1 and t[0]["points"][0][2] == pytest.approx(0.01)
    drv.execute_script("window.harness.traj.hover = null")
    _draw(drv)
    assert "has no point yet" not in drv.find_element(By.CSS_SELECTOR, "#traj .lv-status").text
    # Object 2 is tinted in its own colour (second palette entry) where no track is drawn.
    img = _screenshot(drv)
    x, y = (int(v) for v in m.page(105, 37))
    second = (42, 157, 143)
    assert _close(img[y, x], [0.65 * b + 0.35 * c for b, c in zip(BG, second)], 8), img[y, x]


def test_zoom_redraws_at_screen_resolution_and_labels_stay_apart(driver, server):
    """A host that zooms the editor with a CSS transform (as both ComfyUI node renderers do): after
    the host's per-frame check the backing store is layout size x zoom, and the label boxes the
    editor reports stay inside the canvas and apart, even for crowded points."""
    drv = driver
    drv.execute_async_script("window.harness.traj.onExecuted(arguments[0]).then(arguments[1])", _scene_message())
    _wait(drv, "return !!window.harness.traj.image")
    crowded = [[30 + 3 * i, 80 + 2 * (i % 3), 0.01 * (1 + 0.1 * i)] for i in range(8)]
    drv.execute_script("window.harness.handEdit(window.harness.trajNode, arguments[0])",
                       json.dumps({"tracks": [{"points": crowded}]}))
    try:
        for zoom in (0.5, 1.0, 2.0):
            drv.execute_script("const c = document.getElementById('traj'); c.style.transformOrigin = '0 0';"
                               "c.style.transform = `scale(${arguments[0]})`; window.harness.traj.checkScale();", zoom)
            _wait(drv, "return !window.harness.traj._raf")
            w, h, bw, bh, boxes = drv.execute_script(
                "const e = window.harness.traj, c = e.canvas;"
                "return [c.clientWidth, c.clientHeight, c.width, c.height, e.labelBoxes];")
            assert (bw, bh) == (round(w * zoom), round(h * zoom)), (zoom, w, h, bw, bh)
            # The start label goes first; crowded neighbours get the free spots around them.
            assert boxes[0]["text"] == "start" and len(boxes) >= 3, (zoom, boxes)
            for i, a in enumerate(boxes):
                assert 0 <= a["x"] and 0 <= a["y"] and a["x"] + a["w"] <= w and a["y"] + a["h"] <= h, a
                for b in boxes[i + 1:]:
                    assert not (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                                and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]), (zoom, a, b)
    finally:
        drv.execute_script("document.getElementById('traj').style.transform = ''; window.harness.traj.checkScale();")
        drv.execute_script("window.harness.handEdit(window.harness.trajNode, arguments[0])",
                           json.dumps({"tracks": []}))
