"""The native example workflows in the real frontend: its own UI -> API conversion
(``app.graphToPrompt``) gives exactly the API twins the headless tests run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_real_frontend import comfy, page  # noqa: F401  (fixtures; skip without a host or a browser)

pytestmark = [pytest.mark.browser, pytest.mark.comfyui]

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(p.stem for p in (ROOT / "example_workflows").glob("*_native.json"))


@pytest.mark.parametrize("name", NAMES)
def test_frontend_converts_the_native_workflow_to_its_api_twin(page, name):  # noqa: F811
    ui = json.loads((ROOT / "example_workflows" / f"{name}.json").read_text())
    api = json.loads((ROOT / "tests" / "workflows" / "native" / f"{name}_api.json").read_text())
    prompt = page.execute_async_script("""const [wf, done] = arguments; (async () => {
        await window.app.loadGraphData(wf); await new Promise(r => setTimeout(r, 500));
        const p = await window.app.graphToPrompt(); done(p.output); })();""", ui)
    strip = {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in prompt.items()}
    assert strip == {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in api.items()}
