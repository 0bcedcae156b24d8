import numpy as np
import PIL.Image
import pytest
import torch
from transformers import AutoImageProcessor

from nlv_hf.models.croco import CroCoConfig
from nlv_hf.models.croco.image_processing_croco import CroCoImageProcessor

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def test_pair_of_mixed_inputs():
    rng = np.random.default_rng(0)
    a = PIL.Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    b = rng.random((250, 260, 3)).astype(np.float32)
    out = CroCoImageProcessor()(a, b)
    assert out["pixel_values"].shape == (1, 3, 224, 224) and out["pixel_values_2"].shape == (1, 3, 224, 224)
    assert out["pixel_values"].dtype == torch.float32


def test_normalisation_matches_upstream_to_tensor_normalize():
    """No resize/crop: output == (uint8 / 255 - ImageNet mean) / std, like torchvision ToTensor + Normalize."""
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    proc = CroCoImageProcessor(do_resize=False, do_center_crop=False, patch_size=16)
    out = proc(img, torch.from_numpy(img).permute(2, 0, 1))
    expected = (torch.from_numpy(img).permute(2, 0, 1).float() / 255.0 - MEAN) / STD
    torch.testing.assert_close(out["pixel_values"][0], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["pixel_values_2"][0], expected, rtol=1e-5, atol=1e-5)
    # and back for display
    back = np.asarray(proc.postprocess_images(out["pixel_values"])[0])
    assert np.abs(back.astype(int) - img.astype(int)).max() <= 1


def test_lists_batch_and_resize_options():
    imgs = [np.zeros((64, 96, 3), np.uint8), np.full((80, 80, 3), 255, np.uint8)]
    proc = CroCoImageProcessor(size={"height": 64, "width": 128}, do_center_crop=False)
    out = proc(imgs, imgs)
    assert out["pixel_values"].shape == (2, 3, 64, 128)


@pytest.mark.parametrize(
    "first, second, message",
    [
        (np.zeros((32, 32, 4), np.uint8), None, r"shape \(H, W, 3\)"),
        (torch.zeros(1, 32, 32), None, r"shape \(3, H, W\)"),
        (np.full((32, 32, 3), np.nan, np.float32), None, "NaN"),
        (np.full((32, 32, 3), 2.0, np.float32), None, r"must be in \[0, 1\]"),
        (np.zeros((0, 32, 3), np.uint8), None, "empty"),
        ([], None, "empty list"),
        ("picture.png", None, "unsupported type str"),
        (np.zeros((32, 32, 3), np.int32), None, "dtype int32"),
        ([np.zeros((32, 32, 3), np.uint8)] * 2, [np.zeros((32, 32, 3), np.uint8)], "pair up one to one"),
    ],
)
def test_bad_inputs(first, second, message):
    with pytest.raises(ValueError, match=message):
        CroCoImageProcessor()(first, second)


def test_sizes_the_model_cannot_take():
    proc = CroCoImageProcessor(do_resize=False, do_center_crop=False)
    with pytest.raises(ValueError, match="multiple of the patch size 16"):
        proc(np.zeros((30, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="different sizes after processing"):
        proc(np.zeros((32, 32, 3), np.uint8), np.zeros((48, 32, 3), np.uint8))
    out = proc(np.zeros((32, 32, 3), np.uint8), np.zeros((48, 32, 3), np.uint8), require_same_size=False)
    assert out["pixel_values_2"].shape == (1, 3, 48, 32)
    with pytest.raises(ValueError, match="share one size"):
        proc([np.zeros((32, 32, 3), np.uint8), np.zeros((48, 32, 3), np.uint8)])


def test_save_load_and_auto(tmp_path):
    proc = CroCoImageProcessor(patch_size=8, crop_size={"height": 64, "width": 96})
    proc.save_pretrained(tmp_path)
    CroCoConfig(image_size=64, patch_size=8).save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is CroCoImageProcessor
    assert loaded.patch_size == 8 and loaded.crop_size["width"] == 96
    img = np.random.default_rng(0).integers(0, 255, (100, 120, 3), dtype=np.uint8)
    torch.testing.assert_close(loaded(img)["pixel_values"], proc(img)["pixel_values"])
