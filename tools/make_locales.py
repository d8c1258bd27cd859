"""Write ``locales/en/`` (the frontend's English texts of the pack) from the node definitions.

``nodeDefs.json`` holds, per node id, the display name, the description, every input's name and
tooltip and every output's name and tooltip, in the layout the ComfyUI frontend reads; ``main.json``
names the node category. Run after changing a node's texts: ``python tools/make_locales.py``
(tests/test_nodes_contract.py fails while the files are stale).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def node_defs(classes) -> dict:
    """The ``nodeDefs`` entries of V3 node classes."""
    out = {}
    for cls in classes:
        schema = cls.GET_SCHEMA()
        spec = cls.INPUT_TYPES()
        inputs = {name: {"name": name, "tooltip": opts.get("tooltip")}
                  for section in ("required", "optional") for name, (_, opts) in spec.get(section, {}).items()}
        outputs = {str(i): {"name": name, "tooltip": tip}
                   for i, (name, tip) in enumerate(zip(cls.RETURN_NAMES, cls.OUTPUT_TOOLTIPS))}
        out[schema.node_id] = {"display_name": schema.display_name, "description": schema.description,
                               "inputs": inputs, "outputs": outputs}
    return out


def main() -> int:
    import tempfile

    sys.path.insert(0, str(REPO / "tests"))
    from fakes.comfy_host import HostState, fake_modules, load_pack

    with tempfile.TemporaryDirectory() as tmp:  # no model files: the texts do not depend on them
        sys.modules.update(fake_modules(HostState(Path(tmp))))
        pack = load_pack()
        classes = pack.nodes.node_classes()
        defs = node_defs(classes)
    folder = REPO / "locales" / "en"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nodeDefs.json").write_text(json.dumps(defs, indent=2, ensure_ascii=False) + "\n")
    categories = sorted({cls.GET_SCHEMA().category for cls in classes})
    (folder / "main.json").write_text(json.dumps({"nodeCategories": {c: c for c in categories}}, indent=2) + "\n")
    print(f"wrote {folder}/nodeDefs.json ({len(classes)} nodes) and main.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
