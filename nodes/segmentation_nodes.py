"""LeviTorSAMMaskPicker and LeviTorSceneSegments: segment-anything from ``models/sams``."""

from __future__ import annotations

from levitor import limits
from levitor.segmentation import MULTIMASK_CHOICES, SamSegmenter, parse_points

from . import convert, host
from .api import check_choices, io, keyword_defaults, node_id
from .model_cache import KeyedCache
from .sockets import CATEGORY
from .trajectory_editor import object_label_image, write_temp_pngs

NO_SAM = "(no SAM checkpoint in models/sams)"
EMPTY_POINTS_JSON = '{"format": "levitor-points", "version": 1, "points": []}'
AUTO_DEFAULTS = keyword_defaults(SamSegmenter.automatic_masks)

_segmenters = KeyedCache(1)


def sam_choices() -> list[str]:
    return [f for f in host.list_files("sams") if f.lower().endswith((".pth", ".pt", ".safetensors"))] or [NO_SAM]


def load_segmenter(sam_model: str) -> SamSegmenter:
    """The (cached) ``levitor.segmentation.SamSegmenter`` for a checkpoint under ``models/sams``."""
    if sam_model == NO_SAM or not sam_model:
        roots = ", ".join(host.folder_paths_for("sams")) or "models/sams"
        raise ValueError(f"sam_model: no SAM checkpoint found; put sam_vit_h_4b8939.pth (or vit_l / vit_b) into {roots}")
    path = host.resolve_model_file("sams", sam_model)
    device = host.torch_device()

    def load() -> SamSegmenter:
        segmenter = SamSegmenter.from_pretrained(path, device=device)
        host.soft_empty_cache()
        return segmenter

    return _segmenters.get_or_load((path, str(device)), load)


class LeviTorSAMMaskPicker(io.ComfyNode):
    """Node: one object mask per clicked object with segment-anything."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        host.register_model_folders()
        return io.Schema(
            node_id="LeviTorSAMMaskPicker",
            display_name="LeviTor SAM Mask Picker",
            category=CATEGORY,
            description=(
                "Selects objects with segment-anything from clicked points: positive (label 1) and negative "
                "(label 0) points as levitor-points JSON, or a KJNodes PointsEditor coord_str (positive) plus an "
                "optional negative coord_str. Several objects in one JSON give one mask each; masks_in is "
                "prepended, so pickers chain into the ordered MASK batch the trajectory editor takes."
            ),
            inputs=[
                io.Image.Input("image", tooltip="The start image (first batch item)."),
                io.Combo.Input("sam_model", options=sam_choices(),
                               tooltip="SAM checkpoint (.pth or .safetensors) under models/sams; the reference "
                                       "uses sam_vit_h_4b8939.pth."),
                io.String.Input("points_json", multiline=True, default=EMPTY_POINTS_JSON,
                                tooltip="Clicked points: levitor-points JSON (a points list of x, y and label, or an "
                                        "objects list with one points list per object) or a KJNodes coord_str "
                                        "(all positive)."),
                io.Combo.Input("multimask_output", options=list(MULTIMASK_CHOICES), default=MULTIMASK_CHOICES[0],
                               tooltip="Which of SAM's three masks to keep: the reference always takes index 1."),
                io.String.Input("negative_coord_str", force_input=True, optional=True,
                                tooltip="KJNodes PointsEditor negative coordinates (label 0) for the last object."),
                io.Mask.Input("masks_in", optional=True,
                              tooltip="Masks of earlier objects (any pack); the new masks follow them."),
            ],
            outputs=[io.Mask.Output("object_masks", display_name="object_masks",
                                    tooltip="One mask per object ([B, H, W], masks_in first), in track order.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, points_json, multimask_output=None):
        """Reject points JSON that does not parse before the graph runs."""
        try:
            parse_points(points_json, name="points_json")
        except ValueError as exc:
            return str(exc)
        return check_choices(multimask_output=(multimask_output, MULTIMASK_CHOICES))

    @classmethod
    def execute(cls, image, sam_model, points_json, multimask_output, negative_coord_str=None,
                masks_in=None) -> io.NodeOutput:
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
        nid = node_id(cls, "sam")
        entry = {"width": int(width), "height": int(height), "node_id": nid}
        entry.update(write_temp_pngs({"image": img, "labels": object_label_image(masks, height, width)},
                                     host.temp_directory(), nid))
        return io.NodeOutput(convert.masks_to_tensor(previous + masks, height, width), ui={"levitor_sam": [entry]})


class LeviTorSceneSegments(io.ComfyNode):
    """Node: static scene segments with SAM's automatic mask generator."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        host.register_model_folders()
        d = AUTO_DEFAULTS
        return io.Schema(
            node_id="LeviTorSceneSegments",
            display_name="LeviTor Scene Segments",
            category=CATEGORY,
            description=(
                "Segments the whole start image with SAM's automatic mask generator (reference settings: 32x32 "
                "points, predicted IoU 0.88, stability 0.95, box NMS 0.7). The segments keep the rest of the scene "
                "in place and give it control points. Returned in generator order (predicted IoU descending)."
            ),
            inputs=[
                io.Image.Input("image", tooltip="The start image (first batch item)."),
                io.Combo.Input("sam_model", options=sam_choices(), tooltip="SAM checkpoint under models/sams."),
                io.Int.Input("points_per_side", default=d["points_per_side"], **limits.POINTS_PER_SIDE.widget(),
                             tooltip="Grid of prompt points per image side (reference 32)."),
                io.Float.Input("pred_iou_thresh", default=d["pred_iou_thresh"], step=0.01,
                               **limits.SCORE_THRESHOLD.widget(),
                               tooltip="Keep masks whose predicted IoU is above this (0.88)."),
                io.Float.Input("stability_score_thresh", default=d["stability_score_thresh"], step=0.01,
                               **limits.SCORE_THRESHOLD.widget(),
                               tooltip="Keep masks whose stability score is above this (0.95)."),
                io.Float.Input("box_nms_thresh", default=d["box_nms_thresh"], step=0.01, optional=True,
                               **limits.SCORE_THRESHOLD.widget(),
                               tooltip="Box IoU above which duplicate masks are dropped (0.7)."),
                io.Int.Input("min_mask_region_area", default=d["min_mask_region_area"], optional=True,
                             **limits.MIN_MASK_REGION_AREA.widget(),
                             tooltip="Remove islands and holes smaller than this many pixels (0 = off, "
                                     "reference)."),
            ],
            outputs=[io.Mask.Output("static_segments", display_name="static_segments",
                                    tooltip="One mask per segment [B, H, W] in generator order (one empty mask "
                                            "when none is found).")],
        )

    @classmethod
    def execute(cls, image, sam_model, points_per_side, pred_iou_thresh, stability_score_thresh,
                box_nms_thresh=AUTO_DEFAULTS["box_nms_thresh"],
                min_mask_region_area=AUTO_DEFAULTS["min_mask_region_area"]) -> io.NodeOutput:
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
        return io.NodeOutput(convert.masks_to_tensor([s.mask for s in segments], height, width))


NODES = [LeviTorSAMMaskPicker, LeviTorSceneSegments]
