"""LeviTorTrajectory3DEditor: one 3D track (x, y, depth per click) per selected object."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw

from levitor.fileio import atomic_path
from levitor.planning.scene import depth_to_disparity8, depth_warnings, mask_warnings
from levitor.planning.stages import build_scene
from levitor.planning.tracks import parse_coord_str, parse_tracks, stay_track, validate_tracks
from levitor.preview import palette

from . import convert, host
from .api import Tracks, io, node_id
from .scene_cache import remember_scene
from .sockets import CATEGORY, TrackSet

EMPTY_TRACKS_JSON = '{"format": "levitor-tracks", "version": 1, "tracks": []}'


def _is_blank_tracks(text: str) -> bool:
    text = (text or "").strip()
    if not text:
        return True
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return False
    tracks = obj.get("tracks") if isinstance(obj, dict) else obj
    return isinstance(tracks, list) and len(tracks) == 0


def read_tracks(tracks_json: str, coord_str: str | None, depths: str | None, width: int, height: int):
    """Tracks from the node's inputs: a KJNodes ``coord_str`` (with ``depths``) wins over ``tracks_json``.

    Returns the list of tracks (possibly empty when neither input holds any).
    """
    if coord_str is not None and str(coord_str).strip():
        if depths is None or not str(depths).strip():
            raise ValueError(
                "coord_str is connected but depths is empty; give one depth for all points (e.g. 0.5), a list per "
                "point or per frame ([0.5, 0.3]), or one list per spline ([[0.5, 0.3], [0.2]])"
            )
        return parse_coord_str(coord_str, depths, name="coord_str")
    if _is_blank_tracks(tracks_json):
        return []
    return parse_tracks(tracks_json, image_size=(width, height), name="tracks_json")


def depth_at(depth: np.ndarray, x: float, y: float) -> float | None:
    """The reference depth under pixel ``(x, y)``, or None outside the image."""
    col, row = int(round(x)), int(round(y))
    if 0 <= row < depth.shape[0] and 0 <= col < depth.shape[1]:
        return float(depth[row, col])
    return None


def depth_report(tracks: Sequence[Sequence[Sequence[float]]], depth: np.ndarray, n_objects: int) -> str:
    """One line per clicked point: the scene's reference depth under it and the track's depth."""
    lines = []
    for k, track in enumerate(tracks):
        label = "camera track" if k == n_objects else f"track {k}"
        for i, (x, y, d) in enumerate(track):
            under = depth_at(depth, x, y)
            where = "outside the image" if under is None else f"scene depth {under:.4g}"
            lines.append(f"{label} point {i} at ({x:.0f}, {y:.0f}): {where}; track depth {d:.4g}")
    return "\n".join(lines) if lines else "no tracks"


def draw_editor_preview(image: np.ndarray, object_masks: Sequence[np.ndarray],
                        tracks: Sequence[Sequence[Sequence[float]]], depth: np.ndarray) -> np.ndarray:
    """The start image with tinted object masks, the clicked tracks and the scene depth at each click."""
    colours = palette(len(object_masks) + 2)
    canvas = image.astype(np.float32)
    for k, m in enumerate(object_masks):
        canvas[m] = 0.5 * canvas[m] + 0.5 * colours[k + 1]
    pil = Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    size = max(2, round(min(image.shape[:2]) / 80))
    for k, track in enumerate(tracks):
        colour = tuple(int(v) for v in colours[(k + 1) % len(colours)])
        pts = [(float(x), float(y)) for x, y, _ in track]
        if len(pts) > 1:
            draw.line(pts, fill=(255, 255, 255), width=max(1, size // 2))
        for i, (x, y) in enumerate(pts):
            draw.ellipse([x - size, y - size, x + size, y + size], fill=colour, outline=(255, 255, 255))
            under = depth_at(depth, x, y)
            text = f"{k}.{i} {under:.3g}" if under is not None else f"{k}.{i}"
            draw.text((x + size + 1, y - size - 1), text, fill=(255, 255, 255))
    return np.asarray(pil)


def _write_png_atomic(array: np.ndarray, path: str) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")


def object_label_image(object_masks: Sequence[np.ndarray], height: int, width: int) -> np.ndarray:
    """uint8 image whose grey value is the object index + 1 (the first mask wins an overlap)."""
    labels = np.zeros((height, width), dtype=np.uint8)
    for k, m in enumerate(object_masks):
        labels[m & (labels == 0)] = min(k + 1, 255)
    return labels


def write_temp_pngs(arrays: dict[str, np.ndarray], temp_dir: str, node_id: str) -> dict[str, dict]:
    """Write uint8 arrays as PNGs into ``temp_dir/levitor``; return ComfyUI file references by key."""
    sub = "levitor"
    folder = os.path.join(temp_dir, sub)
    os.makedirs(folder, exist_ok=True)
    safe_id = "".join(c if c.isalnum() else "_" for c in str(node_id)) or "node"
    stamp = uuid.uuid4().hex[:8]
    refs = {}
    for key, array in arrays.items():
        name = f"levitor_{safe_id}_{stamp}_{key}.png"
        _write_png_atomic(np.ascontiguousarray(array), os.path.join(folder, name))
        refs[key] = {"filename": name, "subfolder": sub, "type": "temp"}
    return refs


def write_scene_files(image: np.ndarray, depth: np.ndarray, object_masks: Sequence[np.ndarray],
                      temp_dir: str, node_id: str) -> dict:
    """Write the editor's background files into ``temp_dir/levitor``; return the ``levitor_scene`` entry.

    ``image``: the start image; ``depth8``: the 8-bit disparity (bright = near); ``labels``:
    pixel value = object index + 1 (0 elsewhere).
    """
    height, width = image.shape[:2]
    entry: dict[str, Any] = {"width": int(width), "height": int(height), "num_objects": len(object_masks),
                             "node_id": str(node_id)}
    entry.update(write_temp_pngs({"image": image, "depth8": depth_to_disparity8(depth),
                                  "labels": object_label_image(object_masks, height, width)}, temp_dir, node_id))
    return entry


def build_track_set(image: np.ndarray, depth: np.ndarray, object_masks: list[np.ndarray],
                    static_masks: list[np.ndarray], tracks: list) -> TrackSet:
    """Check the tracks against the objects and fill in "stay" tracks when none were drawn."""
    n = len(object_masks)
    notes = []
    for k, m in enumerate(object_masks):
        if not m.any():
            raise ValueError(f"object_masks[{k}] is empty; select the object again (every moved object needs pixels)")
    if not tracks:
        tracks = [stay_track(m, depth) for m in object_masks]
        if n:
            notes.append("no tracks drawn yet: every object stays in place (draw tracks in the editor or tracks_json)")
    if len(tracks) not in (n, n + 1):
        raise ValueError(
            f"tracks_json has {len(tracks)} tracks for {n} object masks; give one track per object in mask order "
            "(plus optionally one last camera track that moves the background)"
        )
    validate_tracks(tracks, image.shape[1], image.shape[0])
    return TrackSet(image=image, depth=depth, object_masks=object_masks, static_masks=static_masks,
                    tracks=[[tuple(map(float, p)) for p in t] for t in tracks], notes=notes)


class LeviTorTrajectory3DEditor(io.ComfyNode):
    """Node: draw or type one 3D trajectory per object over the start image."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LeviTorTrajectory3DEditor",
            display_name="LeviTor Trajectory 3D Editor",
            category=CATEGORY,
            description=(
                "Give every selected object a 3D trajectory: clicked (x, y) points with a depth each (reference "
                "depth, smaller = nearer, 1 = far). Tracks come from the in-canvas editor / tracks_json (versioned "
                "JSON, editable by hand) or from a KJNodes SplineEditor coord_str with a depth list. Reports the "
                "scene depth under every click. With no tracks, every object stays in place."
            ),
            inputs=[
                io.Image.Input("image", tooltip="The start image (the first item of the batch is used)."),
                io.Mask.Input("object_masks", tooltip="One mask per moved object, in track order (a MASK batch; "
                                                      "from LeviTorSAMMaskPicker or any pack)."),
                io.Image.Input("depth", tooltip="Disparity image, near = bright (LeviTorDepthAnything or any depth "
                                                "pack); converted to reference depth 1/d8."),
                io.String.Input("tracks_json", multiline=True, default=EMPTY_TRACKS_JSON,
                                tooltip="Tracks as levitor-tracks JSON: a tracks list, each with its points as [x, y, "
                                        "depth]; written by the canvas editor, editable by hand. One track per "
                                        "object, in mask order; an extra last track is a camera track."),
                io.String.Input("coord_str", force_input=True, optional=True,
                                tooltip="KJNodes SplineEditor/PointsEditor coordinates (one spline per object); "
                                        "when connected it replaces tracks_json."),
                io.String.Input("depths", default="", optional=True,
                                tooltip="Depths for coord_str: one number, a list per point or per frame, or one "
                                        "list per spline, e.g. [[0.5, 0.3], [0.2]]."),
                io.Mask.Input("static_segments", optional=True,
                              tooltip="Optional static segments (LeviTorSceneSegments) so the live preview shows "
                                      "occlusion; the render node can take them instead."),
            ],
            outputs=[
                Tracks.Output("tracks", display_name="tracks",
                              tooltip="The start image, depth, object masks and one track per object, for "
                                      "LeviTorRenderMovedMasks."),
                io.Image.Output("preview", display_name="preview",
                                tooltip="The start image with the object masks, the tracks and the scene depth at "
                                        "each click."),
                io.String.Output("depth_report", display_name="depth_report",
                                 tooltip="The scene depth under every clicked point, as text (the units track "
                                         "depths use)."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, tracks_json):
        """Reject tracks JSON that does not parse before the graph runs."""
        if _is_blank_tracks(tracks_json):
            return True
        try:
            parse_tracks(tracks_json, name="tracks_json")
        except ValueError as exc:
            return str(exc)
        return True

    @classmethod
    def execute(cls, image, object_masks, depth, tracks_json, coord_str=None, depths="",
                static_segments=None) -> io.NodeOutput:
        img = convert.image_to_numpy(image, name="image")
        size = img.shape[:2]
        masks = convert.masks_to_list(object_masks, name="object_masks", size=size)
        static = convert.masks_to_list(static_segments, name="static_segments", size=size) \
            if static_segments is not None else []
        ref_depth = convert.depth_image_to_reference(depth, name="depth", size=size)
        tracks = read_tracks(tracks_json, coord_str, depths, img.shape[1], img.shape[0])
        track_set = build_track_set(img, ref_depth, masks, static, tracks)

        scene = build_scene(img, ref_depth, masks, static)
        nid = node_id(cls, "levitor")
        remember_scene(nid, scene)
        entry = write_scene_files(img, ref_depth, masks, host.temp_directory(), nid)

        preview = draw_editor_preview(img, masks, track_set.tracks, ref_depth)
        report = depth_report(track_set.tracks, ref_depth, len(masks))
        # Inputs that silently lose occlusion (a flat or photo-like depth map, an inverted mask) first.
        warnings = depth_warnings(ref_depth, img, source=convert.image_to_numpy(depth, name="depth")) + \
            mask_warnings(masks, static)
        if warnings or track_set.notes:
            report = "\n".join(warnings + track_set.notes + [report])
        return io.NodeOutput(track_set, convert.numpy_to_image(preview), report, ui={"levitor_scene": [entry]})


NODES = [LeviTorTrajectory3DEditor]
