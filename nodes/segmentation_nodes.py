"""LeviTorSAMMaskPicker and LeviTorSceneSegments: segment-anything from ``models/sams``."""

from __future__ import annotations

import threading

from . import convert, host
from .sockets import CATEGORY

NO_SAM = "(no SAM checkpoint in models/sams)"
EMPTY_POINTS_JSON = '{"format": "levitor-points", "version": 1, "points": []}'

_lock = threading.Lock()
_cache: dict = {"key": None, "segmenter": None}


def sam_choices() -> list[str]:
    return [f for f in host.list_files("sams") if f.lower().endswith((".pth", ".pt", ".safetensors"))] or [NO_SAM]


def load_segmenter(sam_model: str):
    """The (cached) ``levitor.segmentation.SamSegmenter`` for a checkpoint under ``models/sams``."""
    from levitor.segmentation import SamSegmenter

    if sam_model == NO_SAM or not sam_model:
        roots = ", ".join(host.folder_paths_for("sams")) or "models/sams"
        raise ValueError(f"sam_model: no SAM checkpoint found; put sam_vit_h_4b8939.pth (or vit_l / vit_b) into {roots}")
    path = host.resolve_model_file("sams", sam_model)
    device = host.torch_device()
    key = (path, str(device))
    with _lock:
        if _cache["key"] == key:
            return _cache["segmenter"]
    segmenter = SamSegmenter.from_pretrained(path, device=device)
    with _lock:
        _cache["key"], _cache["segmenter"] = key, segmenter
    host.soft_empty_cache()
    return segmenter


class LeviTorSAMMaskPicker:
    """Node: one object mask per clicked object with segment-anything."""

    DESCRIPTION = (
        "Selects objects with segment-anything from clicked points: positive (label 1) and negative (label 0) "
        "points as levitor-points JSON, or a KJNodes PointsEditor coord_str (positive) plus an optional negative "
        "coord_str. Several objects in one JSON give one mask each; masks_in is prepended, so pickers chain into "
        "the ordered MASK batch the trajectory editor takes."
    )
    CATEGORY = CATEGORY
    FUNCTION = "pick"
    RETURN_TYPES = ("MASK",)
    RETURN_NAMES = ("object_masks",)
    OUTPUT_TOOLTIPS = ("One mask per object ([B, H, W], masks_in first), in track order.",)

    @classmethod
    def INPUT_TYPES(cls):
        from levitor.segmentation import MULTIMASK_CHOICES

        host.register_model_folders()
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The start image (first batch item)."}),
                "sam_model": (sam_choices(), {"tooltip": "SAM checkpoint (.pth or .safetensors) under models/sams; "
                                                         "the reference uses sam_vit_h_4b8939.pth."}),
                "points_json": ("STRING", {"multiline": True, "default": EMPTY_POINTS_JSON,
                                           "tooltip": "Clicked points: levitor-points JSON ({\"points\": [{\"x\", "
                                                      "\"y\", \"label\"}]} or {\"objects\": [{\"points\": ...}]}) "
                                                      "or a KJNodes coord_str (all positive)."}),
                "multimask_output": (list(MULTIMASK_CHOICES), {"default": MULTIMASK_CHOICES[0],
                                                               "tooltip": "Which of SAM's three masks to keep: the "
                                                                          "reference always takes index 1."}),
            },
            "optional": {
                "negative_coord_str": ("STRING", {"forceInput": True,
                                                  "tooltip": "KJNodes PointsEditor negative coordinates (label 0) "
                                                             "for the last object."}),
                "masks_in": ("MASK", {"tooltip": "Masks of earlier objects (any pack); the new masks follow them."}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, points_json):
        """Reject points JSON that does not parse before the graph runs."""
        from levitor.segmentation import parse_points

        try:
            parse_points(points_json, name="points_json")
        except ValueError as exc:
            return str(exc)
        return True

    def pick(self, image, sam_model, points_json, multimask_output, negative_coord_str=None, masks_in=None,
             unique_id=None):
        from levitor.segmentation import parse_points

        img = convert.image_to_numpy(image, name="image")
        height, width = img.shape[:2]
        objects = parse_points(points_json, image_size=(width, height), negative=negative_coord_str,
                               name="points_json")
        previous = convert.masks_to_list(masks_in, name="masks_in", size=(height, width)) \
            if masks_in is not None else []
        bar = host.progress_bar(len(objects) + 1)
        segmenter = load_segmenter(sam_model)
        bar.update(1)
        masks = []
        for points in objects:
            host.check_interrupted()
            masks.append(segmenter.predict_points(img, points, choice=multimask_output).mask)
            bar.update(1)
        # The click picker shows the image and the new masks (grey value = object index + 1).
        from .trajectory_editor import object_label_image, write_temp_pngs

        node_id = str(unique_id) if unique_id is not None else "sam"
        entry = {"width": int(width), "height": int(height), "node_id": node_id}
        entry.update(write_temp_pngs({"image": img, "labels": object_label_image(masks, height, width)},
                                     host.temp_directory(), node_id))
        return {"ui": {"levitor_sam": [entry]}, "result": (convert.masks_to_tensor(previous + masks, height, width),)}


class LeviTorSceneSegments:
    """Node: static scene segments with SAM's automatic mask generator."""

    DESCRIPTION = (
        "Segments the whole start image with SAM's automatic mask generator (reference settings: 32x32 points, "
        "predicted IoU 0.88, stability 0.95, box NMS 0.7). The segments keep the rest of the scene in place and "
        "give it control points. Returned in generator order (predicted IoU descending)."
    )
    CATEGORY = CATEGORY
    FUNCTION = "segment"
    RETURN_TYPES = ("MASK",)
    RETURN_NAMES = ("static_segments",)
    OUTPUT_TOOLTIPS = ("One mask per segment [B, H, W] in generator order (one empty mask when none is found).",)

    @classmethod
    def INPUT_TYPES(cls):
        host.register_model_folders()
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The start image (first batch item)."}),
                "sam_model": (sam_choices(), {"tooltip": "SAM checkpoint under models/sams."}),
                "points_per_side": ("INT", {"default": 32, "min": 1, "max": 128,
                                            "tooltip": "Grid of prompt points per image side (reference 32)."}),
                "pred_iou_thresh": ("FLOAT", {"default": 0.88, "min": 0.0, "max": 1.0, "step": 0.01,
                                              "tooltip": "Keep masks whose predicted IoU is above this (0.88)."}),
                "stability_score_thresh": ("FLOAT", {"default": 0.95, "min": 0.0, "max": 1.0, "step": 0.01,
                                                     "tooltip": "Keep masks whose stability score is above this "
                                                                "(0.95)."}),
            },
            "optional": {
                "box_nms_thresh": ("FLOAT", {"default": 0.7, "min": 0.0, "max": 1.0, "step": 0.01,
                                             "tooltip": "Box IoU above which duplicate masks are dropped (0.7)."}),
                "min_mask_region_area": ("INT", {"default": 0, "min": 0, "max": 100000,
                                                 "tooltip": "Remove islands and holes smaller than this many "
                                                            "pixels (0 = off, reference)."}),
            },
        }

    def segment(self, image, sam_model, points_per_side, pred_iou_thresh, stability_score_thresh,
                box_nms_thresh=0.7, min_mask_region_area=0):
        img = convert.image_to_numpy(image, name="image")
        height, width = img.shape[:2]
        bar = host.progress_bar(2)
        segmenter = load_segmenter(sam_model)
        bar.update(1)
        host.check_interrupted()
        segments = segmenter.automatic_masks(img, points_per_side=points_per_side, pred_iou_thresh=pred_iou_thresh,
                                             stability_score_thresh=stability_score_thresh,
                                             box_nms_thresh=box_nms_thresh, min_mask_region_area=min_mask_region_area)
        bar.update(1)
        return (convert.masks_to_tensor([s.mask for s in segments], height, width),)


NODE_CLASS_MAPPINGS = {"LeviTorSAMMaskPicker": LeviTorSAMMaskPicker, "LeviTorSceneSegments": LeviTorSceneSegments}
NODE_DISPLAY_NAME_MAPPINGS = {"LeviTorSAMMaskPicker": "LeviTor SAM Mask Picker",
                              "LeviTorSceneSegments": "LeviTor Scene Segments"}

