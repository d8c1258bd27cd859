"""The single-file safetensors releases a workflow can download: SAM in the transformers layout
(``facebook/sam-vit-huge`` ``model.safetensors``), Depth-Anything-V2 in the original layout; damaged
files and pickled-only folders give a ValueError naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fakes.tiny_depth import tiny_original_state_dict
from fakes.tiny_sam import save_tiny_transformers_sam
from levitor.io.weights import write_state_dict
from levitor.perception.depth import DepthEstimator, load_depth_model
from levitor.perception.segmentation import load_sam


def test_transformers_sam_release_gives_the_transformers_model_outputs(tmp_path):
    """Renamed weights in segment-anything's model compute what transformers' SamModel computes."""
    path = tmp_path / "sam_vit_h.safetensors"
    hf = save_tiny_transformers_sam(path)
    sam = load_sam(path)
    g = torch.Generator().manual_seed(0)
    image = torch.randn((1, 3, 64, 64), generator=g)
    points, labels = torch.tensor([[[20.0, 30.0], [40.0, 12.0]]]), torch.tensor([[1, 0]])
    with torch.no_grad():
        embedding = sam.image_encoder(image)
        hf_embedding = hf.vision_encoder(image).last_hidden_state
        sparse, dense = sam.prompt_encoder(points=(points, labels), boxes=None, masks=None)
        masks, iou = sam.mask_decoder(image_embeddings=embedding, image_pe=sam.prompt_encoder.get_dense_pe(),
                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                      multimask_output=True)
        out = hf(image_embeddings=hf_embedding, input_points=points[:, None], input_labels=labels[:, None],
                 multimask_output=True)
    torch.testing.assert_close(embedding, hf_embedding, rtol=0, atol=1e-6)
    torch.testing.assert_close(masks, out.pred_masks[:, 0], rtol=0, atol=1e-5)
    torch.testing.assert_close(iou, out.iou_scores[:, 0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("loader, what", [(load_sam, "SAM checkpoint"), (load_depth_model, "Depth-Anything checkpoint")])
def test_damaged_safetensors_name_the_file(tmp_path, loader, what):
    bad = tmp_path / "damaged_model.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ValueError, match=f"{what} damaged_model.safetensors: not a readable"):
        loader(bad)


def test_depth_anything_safetensors_release_equals_the_pth(tmp_path):
    state = tiny_original_state_dict()
    write_state_dict(state, tmp_path / "depth_anything_v2_vitl_fp32.safetensors")
    torch.save(state, tmp_path / "depth_anything_v2_vitl.pth")
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    a = DepthEstimator.from_pretrained(tmp_path / "depth_anything_v2_vitl_fp32.safetensors")(image, input_size=56)
    b = DepthEstimator.from_pretrained(tmp_path / "depth_anything_v2_vitl.pth")(image, input_size=56)
    np.testing.assert_array_equal(a, b)


def test_depth_folder_with_only_pickled_weights_is_refused(tmp_path):
    folder = tmp_path / "Depth-Anything-V2-Large-hf"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "depth_anything"}')
    (folder / "pytorch_model.bin").write_bytes(b"not read")
    with pytest.raises(ValueError, match="no .safetensors weights.*pytorch_model.bin are not loaded"):
        load_depth_model(folder)


def test_sam_loads_from_its_file_or_a_folder_holding_it(tmp_path):
    """One SAM loader: the checkpoint file, or a (transformers-style) folder with model.safetensors."""
    folder = tmp_path / "sam-vit-tiny"
    folder.mkdir()
    save_tiny_transformers_sam(folder / "model.safetensors")
    (folder / "config.json").write_text("{}")
    from_folder, from_file = load_sam(folder), load_sam(folder / "model.safetensors")
    for key, value in from_file.state_dict().items():
        assert torch.equal(from_folder.state_dict()[key], value), key
    save_tiny_transformers_sam(folder / "other.safetensors", seed=1)
    assert torch.equal(load_sam(folder).state_dict()["image_encoder.patch_embed.proj.weight"],
                       from_file.state_dict()["image_encoder.patch_embed.proj.weight"])  # model.safetensors wins
    (folder / "model.safetensors").unlink()
    save_tiny_transformers_sam(folder / "third.safetensors", seed=2)
    with pytest.raises(ValueError, match="must hold model.safetensors or exactly one .safetensors file"):
        load_sam(folder)
