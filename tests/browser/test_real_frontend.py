"""The editors inside the real ComfyUI frontend, with the pack's nodes and the live preview route.

Starts ComfyUI (``COMFYUI_DIR`` / ``COMFYUI_PYTHON``) on 127.0.0.1 with this repository as a custom
node pack, builds LoadImage -> LeviTorTrajectory3DEditor in the page, queues it from the frontend,
then draws a track with the mouse, turns on the live preview and checks the JSON widget, the
API-format prompt (no editor-only inputs) and the server-rendered overlay.
``LEVITOR_SCREENSHOT_DIR`` keeps the screenshots. Skipped without a host or a browser.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytestmark = [pytest.mark.browser, pytest.mark.comfyui]

ROOT = Path(__file__).resolve().parents[2]
COMFY_DIR = os.environ.get("COMFYUI_DIR")
COMFY_PY = os.environ.get("COMFYUI_PYTHON")
PACK_DIR = Path(os.environ.get("LEVITOR_PACK_DIR", str(ROOT)))
CHROME = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

if not (COMFY_DIR and COMFY_PY):
    pytest.skip("needs a real ComfyUI host: set COMFYUI_DIR and COMFYUI_PYTHON", allow_module_level=True)
if not (CHROME and CHROMEDRIVER and HAVE_SELENIUM):
    pytest.skip("needs chromium, chromedriver and selenium", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.actions.wheel_input import ScrollOrigin  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

W, H = 288, 512
BALL = (96, 330, 34)  # x, y, r


def _assets(folder: Path) -> None:
    y = np.linspace(0, 1, H)[:, None, None]
    sky = (1 - y) * np.array([120, 170, 230]) + y * np.array([200, 220, 240])
    img = np.broadcast_to(sky, (H, W, 3)).copy()
    img[300:] = [90, 140, 70]  # grass
    pil = Image.fromarray(img.astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    draw.rectangle([180, 200, 250, 330], fill=(150, 110, 80))  # a crate
    x, yb, r = BALL
    draw.ellipse([x - r, yb - r, x + r, yb + r], fill=(230, 200, 40))
    pil.save(folder / "levitor_scene.png")
    d8 = np.full((H, W), 10, dtype=np.uint8)
    d8[300:] = np.linspace(30, 120, H - 300).astype(np.uint8)[:, None]
    d8[200:331, 180:251] = 60
    rows, cols = np.mgrid[0:H, 0:W]
    ball = (rows - yb) ** 2 + (cols - x) ** 2 <= r * r
    d8[ball] = 100
    Image.fromarray(d8).convert("RGB").save(folder / "levitor_depth.png")
    Image.fromarray((ball * 255).astype(np.uint8)).convert("RGB").save(folder / "levitor_ball.png")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def comfy():
    work = Path(tempfile.mkdtemp(prefix="levitor_host_"))
    for d in ("input", "output", "temp", "user", "custom_nodes"):
        (work / d).mkdir()
    (work / "custom_nodes" / "levitor").symlink_to(PACK_DIR)
    (work / "extra.yaml").write_text(f"levitor_test:\n  custom_nodes: |\n    {work / 'custom_nodes'}\n")
    _assets(work / "input")
    port = _free_port()
    log = open(work / "server.log", "w")
    proc = subprocess.Popen(
        [COMFY_PY, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
         "--extra-model-paths-config", str(work / "extra.yaml"), "--input-directory", str(work / "input"),
         "--output-directory", str(work / "output"), "--temp-directory", str(work / "temp"),
         "--user-directory", str(work / "user"), "--database-url", "sqlite:///:memory:",
         "--disable-auto-launch", "--disable-api-nodes"],
        cwd=COMFY_DIR, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(url + "/object_info/LeviTorTrajectory3DEditor", timeout=2).read()
                break
            except Exception:
                if proc.poll() is not None or time.time() > end:
                    raise RuntimeError("ComfyUI did not start:\n" + (work / "server.log").read_text()[-3000:])
                time.sleep(1)
        yield url, work
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def page(comfy):
    profile = tempfile.mkdtemp(prefix="levitor_chrome_")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROME
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1400,1300", "--force-device-scale-factor=1",
                 "--disable-dev-shm-usage"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_script_timeout(120)
    try:
        drv.get(comfy[0])
        _wait(drv, "return !!(window.app && window.app.graph && window.app.canvas)", 90)
        drv.execute_async_script("""const done = arguments[0]; (async () => {
            try { await window.app.ui.settings.setSettingValueAsync('Comfy.TutorialCompleted', true); } catch (e) {}
            done(true); })();""")
        time.sleep(3)  # let a first-run dialog open, then close it
        drv.execute_script("document.querySelectorAll('.p-dialog-close-button, .p-dialog-header-close')"
                           ".forEach(b => b.click());")
        time.sleep(1)
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(drv, script, timeout=30.0, *args):
    end = time.time() + timeout
    while time.time() < end:
        v = drv.execute_script(script, *args)
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out: {script}")


BUILD = """
const done = arguments[0];
(async () => {
  try {
    const app = window.app, L = window.LiteGraph;
    app.graph.clear();
    const add = (type, pos) => { const n = L.createNode(type); n.pos = pos; app.graph.add(n); return n; };
    const img = add("LoadImage", [20, 40]);
    img.widgets.find(w => w.name === "image").value = "levitor_scene.png";
    const dep = add("LoadImage", [20, 420]);
    dep.widgets.find(w => w.name === "image").value = "levitor_depth.png";
    const msk = add("LoadImageMask", [20, 800]);
    msk.widgets.find(w => w.name === "image").value = "levitor_ball.png";
    msk.widgets.find(w => w.name === "channel").value = "red";
    const ed = add("LeviTorTrajectory3DEditor", [360, 40]);
    ed.size = [520, 1040];
    img.connect(0, ed, ed.findInputSlot("image"));
    dep.connect(0, ed, ed.findInputSlot("depth"));
    msk.connect(0, ed, ed.findInputSlot("object_masks"));
    const sam = add("LeviTorSAMMaskPicker", [900, 420]);
    window.levitorSam = sam;
    const prev = add("PreviewImage", [900, 40]);
    ed.connect(1, prev, 0);
    app.canvas.ds.offset = [0, 0];
    app.canvas.ds.scale = 1;
    app.graph.setDirtyCanvas(true, true);
    window.levitorNodeId = ed.id; window.levitorNode = ed;
    const p = await app.graphToPrompt();
    done({ id: ed.id, prompt: p.output, editor: !!ed.levitorEditor, sam: !!sam.levitorEditor,
           exts: (app.extensions || []).map(e => e.name) });
  } catch (e) { done({ error: String((e && e.stack) || e) }); }
})();
"""


TRACKS_TEXT = "return window.levitorNode.widgets.find(w => w.name === 'tracks_json').value"


def _editor(drv, expr):
    return drv.execute_script(
        "const n = window.levitorNode; const e = n.levitorEditor;" + expr)


def test_editor_in_the_real_frontend(page, comfy):
    drv = page
    res = drv.execute_async_script(BUILD)
    assert "error" not in res, res.get("error")
    assert "levitor.editors" in res["exts"], res["exts"]
    assert res["editor"], "the editor did not attach to LeviTorTrajectory3DEditor"
    assert res["sam"], "the point picker did not attach to LeviTorSAMMaskPicker"
    inputs = res["prompt"][str(res["id"])]["inputs"]
    # Only declared inputs reach the API prompt: the canvas widget is not serialized.
    assert "tracks_json" in inputs and not any(k.startswith("levitor_") for k in inputs), inputs

    version = drv.execute_script("return window.__COMFYUI_FRONTEND_VERSION__ || null")
    print("frontend version:", version)

    # Run the graph from the frontend: the node sends its scene, the editor shows it.
    drv.execute_async_script("const done = arguments[0]; window.app.queuePrompt(0, 1).then(() => done(true));")
    _wait(drv, "const n = window.levitorNode;"
               "return !!(n.levitorEditor.image && n.levitorEditor.depth8 && n.levitorEditor.labels)", 120)
    assert _editor(drv, "return e.numObjects") == 1
    _editor(drv, "e.drawNow()")
    def canvas():
        return drv.execute_script("return window.levitorNode.levitorEditor.canvas")

    rect = drv.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas())
    cw, ch = drv.execute_script("return [arguments[0].width, arguments[0].height]", canvas())
    scale = min((cw - 8) / W, (ch - 8) / H)
    ox, oy = (cw - W * scale) / 2, (ch - H * scale) / 2

    def off(x, y):
        return round(ox + x * scale - rect[0] / 2), round(oy + y * scale - rect[1] / 2)

    for x, y in [(BALL[0], BALL[1]), (170, 380), (230, 440)]:
        ActionChains(drv).move_to_element_with_offset(canvas(), *off(x, y)).click().perform()
    for _ in range(4):  # nearer: smaller depth
        ActionChains(drv).scroll_from_origin(ScrollOrigin.from_element(canvas(), *off(230, 440)), 0, -120).perform()
    text = drv.execute_script(TRACKS_TEXT)
    doc = json.loads(text)
    pts = doc["tracks"][0]["points"]
    assert doc["image_size"] == [W, H] and len(pts) == 3
    # The first point takes the scene depth under the cursor (1/d8 of the node's depth8 PNG).
    d8 = _editor(drv, f"return e.depth8.at({BALL[0]}, {BALL[1]})")
    assert d8 > 0 and pts[0][2] == pytest.approx(1 / d8, abs=1e-4)
    assert pts[2][2] == pytest.approx(pts[1][2] / 1.05 ** 4, abs=1e-4)

    # Keys stay in the editor: Delete removes the selected point, not the node; Ctrl+Z restores it.
    n_nodes = drv.execute_script("return window.app.graph.nodes.length")
    ActionChains(drv).move_to_element_with_offset(canvas(), *off(170, 380)).click().perform()  # select
    ActionChains(drv).send_keys(Keys.DELETE).perform()
    assert drv.execute_script("return window.app.graph.nodes.length") == n_nodes
    assert len(json.loads(drv.execute_script(TRACKS_TEXT))["tracks"][0]["points"]) == 2
    ActionChains(drv).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    assert json.loads(drv.execute_script(TRACKS_TEXT))["tracks"][0]["points"] == pts
    time.sleep(0.5)  # the host's own undo would reload the graph on the next frame
    assert drv.execute_script("return window.app.graph.getNodeById(window.levitorNode.id) === window.levitorNode"), \
        "Ctrl+Z in the editor must not undo the workflow"

    # Live preview through the real server route, last frame.
    _editor(drv, "e.previewToggle.checked = true; e.setFrame(e.numFrames() - 1);")
    _wait(drv, "const e = window.levitorNode.levitorEditor; return !!(e.previewImg || e.error)", 60)
    assert _editor(drv, "return e.error") == ""
    _editor(drv, "e.hover = null; e.drawNow()")

    # The queued prompt used the edited JSON, and re-running with it succeeds.
    prompt = drv.execute_async_script("const d = arguments[0]; window.app.graphToPrompt().then(p => d(p.output));")
    sent = json.loads(prompt[str(res["id"])]["inputs"]["tracks_json"])
    assert sent["tracks"][0]["points"] == pts

    shots = os.environ.get("LEVITOR_SCREENSHOT_DIR")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(Path(shots) / "editor_comfyui_full.png"))
        el = drv.execute_script("return window.levitorNode.levitorEditor.element")
        Path(shots, "editor_comfyui.png").write_bytes(el.screenshot_as_png)
    # Save and reload the workflow: the JSON widget keeps the tracks, the editor reads them back,
    # and the canvas widget adds nothing to widgets_values.
    reloaded = drv.execute_async_script("""const done = arguments[0]; (async () => {
        const app = window.app;
        const wf = app.graph.serialize();
        const node = wf.nodes.find(n => n.type === "LeviTorTrajectory3DEditor");
        const id = node.id;
        app.graph.clear();
        await app.loadGraphData(wf);
        const ed = app.graph.getNodeById(id);
        done({ values: node.widgets_values, points: ed.levitorEditor.model.tracks[0].points,
               props: node.properties });
      })();""")
    assert any(isinstance(v, str) and '"levitor-tracks"' in v for v in reloaded["values"]), reloaded["values"]
    assert all(v is not None for v in reloaded["values"]), reloaded["values"]
    assert reloaded["props"]["levitor_image"]["filename"].endswith(".png")
    assert [[round(c, 2) for c in p] for p in reloaded["points"]] == [[round(c, 2) for c in p] for p in pts]
    # The background image comes back from the node's saved properties.
    _wait(drv, "const n = window.app.graph.nodes.find(n => n.type === 'LeviTorTrajectory3DEditor');"
               "return !!(n && n.levitorEditor.image)", 30)

    png = np.asarray(Image.open(io.BytesIO(drv.get_screenshot_as_png())).convert("RGB"))
    assert png.std() > 5  # a drawn page, not blank

    # Typing into the frontend's own text box: the editor picks it up when the pointer comes back.
    drv.execute_script("window.levitorNode = window.app.graph.nodes.find(n => n.type === 'LeviTorTrajectory3DEditor');")
    box = drv.execute_script("const w = window.levitorNode.widgets.find(w => w.name === 'tracks_json');"
                             "return w.inputEl || w.element")
    assert box is not None and box.tag_name == "textarea"
    box.clear()
    box.send_keys('{"tracks": [{"points": [[10, 20, 0.5], [100, 200, 0.25]]}]}')
    ActionChains(drv).move_to_element(drv.execute_script("return window.levitorNode.levitorEditor.canvas")).perform()
    _wait(drv, "return window.levitorNode.levitorEditor.model.tracks[0].points.length === 2", 10)
    assert _editor(drv, "return e.model.tracks[0].points") == [[10, 20, 0.5], [100, 200, 0.25]]


def test_sam_picker_upload_and_clicks_in_the_real_frontend(page, comfy):
    drv = page
    res = drv.execute_async_script("""const done = arguments[0]; (async () => {
      try {
        const app = window.app, L = window.LiteGraph;
        let sam = app.graph.nodes.find(n => n.type === "LeviTorSAMMaskPicker");
        if (!sam) { sam = L.createNode("LeviTorSAMMaskPicker"); app.graph.add(sam); }
        sam.pos = [900, 40]; sam.size = [400, 700];
        app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1; app.graph.setDirtyCanvas(true, true);
        window.levitorSam = sam;
        // Upload through the host's /upload/image, as the Image... button, a paste or a drop does.
        const blob = await (await fetch("/view?filename=levitor_scene.png&type=input")).blob();
        await sam.levitorEditor.upload(new File([blob], "levitor_upload.png", { type: "image/png" }));
        done({ ref: sam.properties.levitor_image, w: sam.levitorEditor.image && sam.levitorEditor.image.naturalWidth,
               err: sam.levitorEditor.error });
      } catch (e) { done({ error: String((e && e.stack) || e) }); }
    })();""")
    assert "error" not in res, res
    assert res["err"] == "" and res["w"] == W and res["ref"]["type"] == "input"
    assert (comfy[1] / "input" / res["ref"]["filename"]).exists()
    time.sleep(1.5)  # let the frontend lay out the resized node
    drv.execute_script("window.levitorSam.levitorEditor.drawNow()")
    canvas = drv.execute_script("return window.levitorSam.levitorEditor.canvas")
    rect = drv.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas)
    cw, ch = drv.execute_script("return [arguments[0].width, arguments[0].height]", canvas)
    scale = min((cw - 8) / W, (ch - 8) / H)
    ox, oy = (cw - W * scale) / 2, (ch - H * scale) / 2

    def off(x, y):
        return round(ox + x * scale - rect[0] / 2), round(oy + y * scale - rect[1] / 2)

    ActionChains(drv).move_to_element_with_offset(canvas, *off(BALL[0], BALL[1])).click().perform()
    ActionChains(drv).move_to_element_with_offset(canvas, *off(215, 260)).context_click().perform()
    ActionChains(drv).key_down(Keys.SHIFT).move_to_element_with_offset(canvas, *off(60, 450)).click() \
        .key_up(Keys.SHIFT).perform()
    text = drv.execute_script("return window.levitorSam.widgets.find(w => w.name === 'points_json').value")
    doc = json.loads(text)
    assert doc["format"] == "levitor-points" and doc["image_size"] == [W, H]
    assert [p["label"] for p in doc["points"]] == [1, 0, 0]
    assert abs(doc["points"][0]["x"] - BALL[0]) <= 2 and abs(doc["points"][0]["y"] - BALL[1]) <= 2
    prompt = drv.execute_async_script("const d = arguments[0]; window.app.graphToPrompt().then(p => d(p.output));")
    sam_inputs = prompt[str(drv.execute_script("return window.levitorSam.id"))]["inputs"]
    assert json.loads(sam_inputs["points_json"])["points"] == doc["points"]
    assert not any(k.startswith("levitor_") for k in sam_inputs)
    shots = os.environ.get("LEVITOR_SCREENSHOT_DIR")
    if shots:
        drv.execute_script("window.levitorSam.levitorEditor.hover = null; window.levitorSam.levitorEditor.drawNow()")
        el = drv.execute_script("return window.levitorSam.levitorEditor.element")
        Path(shots, "sam_picker_comfyui.png").write_bytes(el.screenshot_as_png)
