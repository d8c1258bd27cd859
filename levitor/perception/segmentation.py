"""segment-anything: object masks from clicked points, and automatic scene segments.

The reference selects each object with ``SamPredictor`` (all clicks of the object as point
prompts, ``multimask_output=True``, always mask index 1) and segments the static scene with
``SamAutomaticMaskGenerator`` at its default settings; the segments are used in the generator's
order (predicted IoU, descending).

Checkpoints are read as tensors only (``torch.load(weights_only=True)`` or safetensors); the
model is built from the shapes in the state dict, so ViT-H/L/B and smaller variants all load.
Both the original layout (``sam_vit_h_4b8939.pth``) and the transformers layout of the single
safetensors releases (``facebook/sam-vit-huge`` ``model.safetensors``) are read; the second is
renamed to the first (:func:`from_transformers_layout`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io.jsontext import FormatError, check_keys, decode_json, format_number, short_repr
from ..io.weights import block_count, read_state_dict, required_tensors
from ..limits import IMAGE_SIDE, MAX_PROMPT_POINTS, TRACK_COORD

POINTS_FORMAT = "levitor-points"
POINTS_VERSION = 1
MULTIMASK_CHOICES = ("reference (index 1)", "best score", "0", "1", "2")

Point = tuple[float, float, int]  # (x, y, label): label 1 positive, 0 negative


# --------------------------------------------------------------------------------------------
# points


_POINT_KEYS = ("x", "y", "label")
_DOC_KEYS = ("format", "version", "image_size", "points", "objects")


def _coordinate(raw: Any, where: str, axis: str) -> float:
    v = format_number(raw, f"{where} {axis}")
    if not TRACK_COORD.lo <= v <= TRACK_COORD.hi:
        raise FormatError("coordinate_range", f"{where} has {axis} {v:g}; a coordinate must be in "
                                              f"{TRACK_COORD.describe()} ({TRACK_COORD.meaning})")
    return v


def _point(raw: Any, where: str, default_label: int) -> Point:
    if isinstance(raw, dict):
        check_keys(raw, _POINT_KEYS, where)
        if "x" not in raw or "y" not in raw:
            raise FormatError("point_shape", f"{where}: a point needs 'x' and 'y', got {short_repr(raw)}")
        x, y, label = raw["x"], raw["y"], raw.get("label", default_label)
    elif isinstance(raw, (list, tuple)) and len(raw) in (2, 3):
        x, y = raw[0], raw[1]
        label = raw[2] if len(raw) == 3 else default_label
    else:
        raise FormatError("point_shape", f"{where}: a point must be {{'x', 'y', 'label'}} or [x, y, label], "
                                         f"got {short_repr(raw)}")
    x, y = _coordinate(x, where, "x"), _coordinate(y, where, "y")
    if isinstance(label, bool) or label not in (0, 1):
        raise FormatError("label", f"{where}: label must be 1 (positive) or 0 (negative), got {short_repr(label)}")
    return (x, y, int(label))


def _point_list(raw: Any, where: str, default_label: int) -> list[Point]:
    if not isinstance(raw, list):
        raise FormatError("point_list", f"{where}: the points must be a list, got {short_repr(raw)}")
    if len(raw) > MAX_PROMPT_POINTS:
        raise FormatError("too_many_points", f"{where} has {len(raw)} points, above the {MAX_PROMPT_POINTS} allowed")
    return [_point(p, f"{where} point {i}", default_label) for i, p in enumerate(raw)]


def _image_size(raw: Any, name: str) -> tuple[float, float]:
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise FormatError("image_size", f"{name}: image_size must be [width, height], got {short_repr(raw)}")
    try:
        return (float(IMAGE_SIDE.check(raw[0], f"{name} image_size width")),
                float(IMAGE_SIDE.check(raw[1], f"{name} image_size height")))
    except ValueError as exc:
        raise FormatError("image_size", str(exc)) from None


def _objects(obj: Any, name: str) -> tuple[list[list[Point]], tuple[float, float] | None]:
    """The objects' points of a points document, and the image size it names (or ``None``)."""
    source_size = None
    if isinstance(obj, dict):
        check_keys(obj, _DOC_KEYS, name)
        fmt = obj.get("format", POINTS_FORMAT)
        if fmt != POINTS_FORMAT:
            raise FormatError("format", f"{name}: format is {short_repr(fmt)}, expected {POINTS_FORMAT!r}")
        version = obj.get("version", POINTS_VERSION)
        if isinstance(version, bool) or version != POINTS_VERSION:
            raise FormatError("version", f"{name}: version {short_repr(version)} is not supported "
                                         f"(expected {POINTS_VERSION})")
        if obj.get("image_size") is not None:
            source_size = _image_size(obj["image_size"], name)
        if "objects" in obj:
            if not isinstance(obj["objects"], list):
                raise FormatError("objects_shape",
                                  f"{name}: 'objects' must be a list, got {short_repr(obj['objects'])}")
            objects = []
            for k, o in enumerate(obj["objects"]):
                if isinstance(o, dict):
                    check_keys(o, ("points",), f"{name} object {k}")
                    o = o.get("points")
                objects.append(_point_list(o, f"{name} object {k}", 1))
            return objects, source_size
        pts = _point_list(obj.get("points", []), name, 1)
        return ([pts] if pts else []), source_size
    if isinstance(obj, list):
        if obj and isinstance(obj[0], list) and obj[0] and isinstance(obj[0][0], (dict, list)):
            return [_point_list(o, f"{name} object {k}", 1) for k, o in enumerate(obj)], None
        pts = _point_list(obj, name, 1)
        return ([pts] if pts else []), None
    raise FormatError("document", f"{name} must be levitor-points JSON or a coord_str list, got {short_repr(obj)}")


def parse_points(data: Any, *, image_size: Sequence[int] | None = None, negative: Any = None,
                 name: str = "points") -> list[list[Point]]:
    """Point prompts per object from levitor-points JSON or a KJNodes ``coord_str``.

    Accepted (``levitor/assets/schema/points.schema.json``): ``{"format": "levitor-points",
    "version": 1, "image_size": [W, H], "points": [{"x", "y", "label"}]}`` (one object), the same
    with ``"objects": [{"points": [...]}, ...]`` (one mask per object), or a KJNodes ``coord_str``
    (a list of ``{"x", "y"}``, all positive; a list of such lists is one object per list); a point
    may also be ``[x, y]`` or ``[x, y, label]``. ``negative`` is an optional ``coord_str`` of
    negative points added to the last object. ``image_size`` ``(W, H)`` rescales points drawn on
    an image of another size. Every object needs at least one positive point. Problems are
    :class:`~levitor.io.jsontext.FormatError` (``ValueError``) with the kind the editor reports too.
    """
    try:
        obj = decode_json(data, name, empty=[])
    except ValueError as exc:
        raise FormatError("json", str(exc)) from None
    objects, source_size = _objects(obj, name)

    neg = decode_json(negative, "negative_coord_str", empty=[]) if negative is not None else []
    if neg:
        if not objects:
            raise ValueError("negative_coord_str needs positive points in points_json too")
        objects[-1] = objects[-1] + _point_list(neg, "negative_coord_str", 0)
    if not objects:
        raise FormatError("no_points", f"{name} has no points; click at least one positive point on the object")
    if sum(len(pts) for pts in objects) > MAX_PROMPT_POINTS:
        raise FormatError("too_many_points", f"{name} has more than {MAX_PROMPT_POINTS} points in all")
    if source_size is not None and image_size is not None:
        sx, sy = image_size[0] / source_size[0], image_size[1] / source_size[1]
        objects = [[(x * sx, y * sy, lab) for x, y, lab in pts] for pts in objects]
    for k, pts in enumerate(objects):
        if not any(lab == 1 for _, _, lab in pts):
            raise FormatError("no_positive", f"{name}: object {k} has no positive point (label 1); SAM needs one "
                                             "on the object")
    return objects


def choose_mask_index(scores: np.ndarray, choice: str) -> int:
    """Which of SAM's multimask outputs to keep: the reference's index 1, the best score, or 0/1/2."""
    if choice == "reference (index 1)":
        return 1
    if choice == "best score":
        return int(np.argmax(scores))
    if choice in ("0", "1", "2"):
        return int(choice)
    raise ValueError(f"multimask_output must be one of {', '.join(MULTIMASK_CHOICES)}, got {choice!r}")


# --------------------------------------------------------------------------------------------
# model


@dataclass(frozen=True)
class SamConfig:
    """The sizes of a segment-anything model, read from its state dict."""

    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    encoder_global_attn_indexes: tuple[int, ...]
    window_size: int
    image_size: int
    patch_size: int
    prompt_embed_dim: int
    decoder_depth: int
    decoder_mlp_dim: int
    iou_head_hidden_dim: int
    mask_in_chans: int
    mlp_ratio: float

    @property
    def registry_name(self) -> str | None:
        """``vit_h`` / ``vit_l`` / ``vit_b`` when this is one of the published sizes, else None."""
        standard = {(1280, 32): "vit_h", (1024, 24): "vit_l", (768, 12): "vit_b"}
        name = standard.get((self.encoder_embed_dim, self.encoder_depth))
        if name and self.image_size == 1024 and self.prompt_embed_dim == 256 and self.patch_size == 16:
            return name
        return None


def infer_sam_config(state: dict, decoder_num_heads: int = 8) -> SamConfig:
    """Read the model sizes from a SAM state dict; ``ValueError`` for anything that is not SAM."""
    patch, pos, no_mask = required_tensors(
        state,
        ("image_encoder.patch_embed.proj.weight", "image_encoder.pos_embed", "prompt_encoder.no_mask_embed.weight"),
        what="segment-anything",
    )
    embed_dim, patch_size = int(patch.shape[0]), int(patch.shape[-1])
    grid = int(pos.shape[1])
    depth = block_count(state, "image_encoder.blocks.")
    head_dim = int(state["image_encoder.blocks.0.attn.rel_pos_h"].shape[1])
    global_idx, window = [], 0
    for i in range(depth):
        size = (int(state[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0]) + 1) // 2
        if size == grid:
            global_idx.append(i)
        else:
            window = size
    dec_depth = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("mask_decoder.transformer.layers."))
    return SamConfig(
        encoder_embed_dim=embed_dim, encoder_depth=depth, encoder_num_heads=embed_dim // head_dim,
        encoder_global_attn_indexes=tuple(global_idx), window_size=window or grid, image_size=grid * patch_size,
        patch_size=patch_size, prompt_embed_dim=int(no_mask.shape[1]),
        decoder_depth=dec_depth, decoder_mlp_dim=int(state["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0]),
        iou_head_hidden_dim=int(state["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0]),
        mask_in_chans=int(state["prompt_encoder.mask_downscaling.6.weight"].shape[1]),
        mlp_ratio=float(state["image_encoder.blocks.0.mlp.lin1.weight"].shape[0]) / embed_dim,
    )


def build_sam(config: SamConfig, decoder_num_heads: int = 8):
    """An untrained ``segment_anything.modeling.Sam`` of the given sizes."""
    from functools import partial

    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    grid = config.image_size // config.patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=config.encoder_depth, embed_dim=config.encoder_embed_dim, img_size=config.image_size,
            mlp_ratio=config.mlp_ratio, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=config.encoder_num_heads, patch_size=config.patch_size, qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=config.encoder_global_attn_indexes, window_size=config.window_size,
            out_chans=config.prompt_embed_dim),
        prompt_encoder=PromptEncoder(
            embed_dim=config.prompt_embed_dim, image_embedding_size=(grid, grid),
            input_image_size=(config.image_size, config.image_size), mask_in_chans=config.mask_in_chans),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=config.decoder_depth, embedding_dim=config.prompt_embed_dim,
                                          mlp_dim=config.decoder_mlp_dim, num_heads=decoder_num_heads),
            transformer_dim=config.prompt_embed_dim, iou_head_depth=3,
            iou_head_hidden_dim=config.iou_head_hidden_dim),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.train(False)


#: transformers SAM names → segment-anything names (the first matching prefix is replaced).
_HF_SAM_RENAMES = (
    ("vision_encoder.patch_embed.projection.", "image_encoder.patch_embed.proj."),
    ("vision_encoder.neck.conv1.", "image_encoder.neck.0."),
    ("vision_encoder.neck.layer_norm1.", "image_encoder.neck.1."),
    ("vision_encoder.neck.conv2.", "image_encoder.neck.2."),
    ("vision_encoder.neck.layer_norm2.", "image_encoder.neck.3."),
    ("vision_encoder.layers.", "image_encoder.blocks."),
    ("vision_encoder.", "image_encoder."),
    ("shared_image_embedding.positional_embedding", "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"),
    ("prompt_encoder.point_embed.", "prompt_encoder.point_embeddings."),
    ("prompt_encoder.mask_embed.conv1.", "prompt_encoder.mask_downscaling.0."),
    ("prompt_encoder.mask_embed.layer_norm1.", "prompt_encoder.mask_downscaling.1."),
    ("prompt_encoder.mask_embed.conv2.", "prompt_encoder.mask_downscaling.3."),
    ("prompt_encoder.mask_embed.layer_norm2.", "prompt_encoder.mask_downscaling.4."),
    ("prompt_encoder.mask_embed.conv3.", "prompt_encoder.mask_downscaling.6."),
    ("mask_decoder.upscale_conv1.", "mask_decoder.output_upscaling.0."),
    ("mask_decoder.upscale_layer_norm.", "mask_decoder.output_upscaling.1."),
    ("mask_decoder.upscale_conv2.", "mask_decoder.output_upscaling.3."),
    ("mask_decoder.transformer.layer_norm_final_attn.", "mask_decoder.transformer.norm_final_attn."),
)
_HF_SAM_LAYER = {"layer_norm1": "norm1", "layer_norm2": "norm2", "layer_norm3": "norm3", "layer_norm4": "norm4"}
_HF_SAM_MLP = {"proj_in": "layers.0", "layers.0": "layers.1", "proj_out": "layers.2"}


def from_transformers_layout(state: dict, name: str = "SAM checkpoint") -> dict:
    """A SAM state dict in the transformers layout (``vision_encoder.*``) renamed to segment-anything's."""
    import re

    out = {}
    for key, tensor in state.items():
        if key.startswith("prompt_encoder.shared_embedding.") and "shared_image_embedding.positional_embedding" in state:
            continue  # the same tensor as shared_image_embedding (tied)
        key = key.replace("prompt_encoder.shared_embedding.", "shared_image_embedding.")
        new = key
        for old, repl in _HF_SAM_RENAMES:
            if new.startswith(old):
                new = repl + new[len(old):]
                break
        new = re.sub(r"^(image_encoder\.blocks\.\d+\.)layer_norm([12])\.", r"\1norm\2.", new)
        m = re.match(r"^(mask_decoder\.transformer\.layers\.\d+\.)(layer_norm\d)\.(.*)$", new)
        if m:
            new = f"{m.group(1)}{_HF_SAM_LAYER[m.group(2)]}.{m.group(3)}"
        m = re.match(r"^(mask_decoder\.(?:output_hypernetworks_mlps\.\d+|iou_prediction_head)\.)"
                     r"(proj_in|layers\.0|proj_out)\.(.*)$", new)
        if m:
            new = f"{m.group(1)}{_HF_SAM_MLP[m.group(2)]}.{m.group(3)}"
        if new in out:
            raise ValueError(f"{name}: two tensors map to {new!r}; not a transformers SAM checkpoint")
        out[new] = tensor
    return out


def sam_weights_file(path: str | Path) -> Path:
    """The weights of a SAM given as a file, or as a folder holding one ``.safetensors`` file
    (``model.safetensors`` of a transformers SAM folder, or any single file)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        return path
    files = sorted(path.glob("*.safetensors"))
    preferred = [f for f in files if f.name == "model.safetensors"]
    if preferred or len(files) == 1:
        return (preferred or files)[0]
    found = ", ".join(f.name for f in files) or "none"
    raise ValueError(f"SAM folder {str(path)!r} must hold model.safetensors or exactly one .safetensors file "
                     f"(found {found}); give the checkpoint file itself")


def load_sam(path: str | Path, *, device: Any = None):
    """Build a SAM of the checkpoint's size (``sam_model_registry`` for the published ones) and load it
    strictly, from a checkpoint file (original or transformers key names) or a folder holding it."""
    import torch

    path = sam_weights_file(path)
    state = read_state_dict(path, what="SAM checkpoint")
    if any(k.startswith("vision_encoder.") for k in state):
        state = from_transformers_layout(state, Path(path).name)
    config = infer_sam_config(state)
    if config.registry_name is not None:
        from segment_anything import sam_model_registry

        sam = sam_model_registry[config.registry_name](checkpoint=None)
    else:
        sam = build_sam(config)
    missing, unexpected = sam.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{Path(path).name} does not match a SAM of its size: missing {list(missing)[:5]}, "
                         f"unexpected {list(unexpected)[:5]}")
    return sam.to(torch.device(device) if device is not None else torch.device("cpu")).train(False)


# --------------------------------------------------------------------------------------------
# prediction


@dataclass
class PointPrediction:
    """The chosen mask ``(H, W)`` bool, its index, and all three masks with their scores."""

    mask: np.ndarray
    index: int
    masks: np.ndarray
    scores: np.ndarray


@dataclass
class Segment:
    """One automatic segment, as SAM's generator reports it."""

    mask: np.ndarray
    predicted_iou: float
    stability_score: float
    area: int
    bbox: tuple[int, int, int, int]


class SamSegmenter:
    """Point-prompted and automatic segmentation with one SAM model.

    The image embedding of the last image is kept, so several objects of one image cost one
    encoder pass.
    """

    def __init__(self, sam):
        from segment_anything import SamPredictor

        self.sam = sam
        self.predictor = SamPredictor(sam)
        self._image_key: str | None = None

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: Any = None) -> SamSegmenter:
        return cls(load_sam(path, device=device))

    @staticmethod
    def _check_image(image: np.ndarray) -> np.ndarray:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[-1] != 3 or img.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
        return img

    def _set_image(self, image: np.ndarray) -> None:
        key = hashlib.sha1(image.tobytes()).hexdigest() + str(image.shape)
        if key != self._image_key:
            import torch

            with torch.inference_mode():
                self.predictor.set_image(image, image_format="RGB")
            self._image_key = key

    def predict_points(self, image: np.ndarray, points: Sequence[Point],
                       choice: str = "reference (index 1)") -> PointPrediction:
        """Three candidate masks for the clicked points (multimask output) and the chosen one."""
        import torch

        img = self._check_image(image)
        if not points:
            raise ValueError("points is empty; click at least one positive point on the object")
        coords = np.array([[x, y] for x, y, _ in points], dtype=np.float32)
        labels = np.array([lab for _, _, lab in points], dtype=np.int64)
        self._set_image(img)
        with torch.inference_mode():
            masks, scores, _ = self.predictor.predict(point_coords=coords, point_labels=labels,
                                                      multimask_output=True)
        index = choose_mask_index(scores, choice)
        return PointPrediction(mask=masks[index].astype(bool), index=index, masks=masks.astype(bool),
                               scores=np.asarray(scores, dtype=np.float32))

    def automatic_masks(self, image: np.ndarray, *, points_per_side: int = 32, pred_iou_thresh: float = 0.88,
                        stability_score_thresh: float = 0.95, box_nms_thresh: float = 0.7,
                        min_mask_region_area: int = 0, points_per_batch: int = 64) -> list[Segment]:
        """SAM's automatic segments in generator order (predicted IoU descending); reference defaults."""
        import torch
        from segment_anything import SamAutomaticMaskGenerator

        img = self._check_image(image)
        generator = SamAutomaticMaskGenerator(
            self.sam, points_per_side=int(points_per_side), points_per_batch=int(points_per_batch),
            pred_iou_thresh=float(pred_iou_thresh), stability_score_thresh=float(stability_score_thresh),
            box_nms_thresh=float(box_nms_thresh), min_mask_region_area=int(min_mask_region_area))
        with torch.inference_mode():
            records = generator.generate(img)
        return [Segment(mask=np.asarray(r["segmentation"], dtype=bool), predicted_iou=float(r["predicted_iou"]),
                        stability_score=float(r["stability_score"]), area=int(r["area"]),
                        bbox=tuple(int(v) for v in r["bbox"])) for r in records]
