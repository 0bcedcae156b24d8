"""CroCo-Stereo/Flow augmentations keep the ground truth consistent with the images."""

import colorsys

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from nlv_hf.data.stereo_flow import ProceduralFlowDataset, ProceduralStereoDataset
from nlv_hf.data.stereo_flow_augment import FlowAugmentor, StereoAugmentor, adjust_hue, resize_labels


def _warp_error(image_1, image_2, labels):
    """Median |image_1 - image_2 sampled at the corresponding point| over pixels whose correspondence is inside."""
    _, height, width = image_1.shape
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    if labels.shape[0] == 1:  # disparity: left (x, y) ↔ right (x - d, y)
        tx, ty = xs - labels[0], ys
    else:
        tx, ty = xs + labels[0], ys + labels[1]
    grid = torch.stack([2 * (tx + 0.5) / width - 1, 2 * (ty + 0.5) / height - 1], -1)[None]
    warped = F.grid_sample(image_2[None], grid, mode="bilinear", align_corners=False)[0]
    inside = (tx >= 0) & (tx <= width - 1) & (ty >= 0) & (ty <= height - 1) & torch.isfinite(labels).all(0)
    return float((warped - image_1).abs().mean(0)[inside].median())


def _first_where(augmentor, example, predicate, tries=200):
    """Augment ``example`` with indices 0, 1, … until the drawn randomness satisfies ``predicate(rng)``."""
    for index in range(tries):
        if predicate(np.random.default_rng([augmentor.seed, augmentor.epoch, index])):
            return augmentor(example, index), index
    raise AssertionError("no index drew the wanted augmentation")


def test_stereo_geometry_keeps_disparity_consistent():
    example = ProceduralStereoDataset(1, height=48, width=96, seed=5, max_disparity=12)[0]
    reference = _warp_error(example["pixel_values"], example["pixel_values_2"], example["labels"])
    wrong = _warp_error(example["pixel_values"], example["pixel_values_2"], torch.zeros_like(example["labels"]))
    assert reference < 0.02 < wrong
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    aug = StereoAugmentor((32, 64), seed=1, color_jitter=False, right_jitter_prob=0.0, scale_prob=1.0,
                          vflip_prob=0.5, min_scale=0.3, max_scale=0.5)
    for index in range(6):  # scale (x only, disparity × sx), crop and vertical flips
        out = aug(example, index)
        assert out["pixel_values"].shape == (3, 32, 64) and out["labels"].shape == (1, 32, 64)
        error = _warp_error(out["pixel_values"] * std, out["pixel_values_2"] * std, out["labels"])
        assert error < 0.004, (index, error)  # a 20 % wrong scale gives ~0.02
        assert out["labels"].max() > example["labels"].min() * 1.2  # the disparity values were rescaled
    # a vertical flip flips the disparity map with the images
    flat = StereoAugmentor((48, 96), seed=0, color_jitter=False, right_jitter_prob=0.0, scale_prob=0.0,
                           vflip_prob=1.0)
    out = flat(example, 0)
    torch.testing.assert_close(out["labels"], example["labels"].flip(-2))
    torch.testing.assert_close(out["pixel_values"] * std + torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1),
                               example["pixel_values"].flip(-2))


def test_flow_geometry_keeps_flow_consistent():
    example = ProceduralFlowDataset(1, height=48, width=96, seed=3, max_motion=6)[0]
    reference = _warp_error(example["pixel_values"], example["pixel_values_2"], example["labels"])
    assert reference < 0.02
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    aug = FlowAugmentor((32, 64), seed=2, color_jitter=False, scale_prob=1.0, stretch_prob=1.0, hflip_prob=0.5,
                        vflip_prob=0.5)
    flips = set()
    for index in range(8):
        out = aug(example, index)
        error = _warp_error(out["pixel_values"] * std, out["pixel_values_2"] * std, out["labels"])
        assert error < 0.004, (index, error)  # a 20 % wrong scale gives ~0.02
        negated = _warp_error(out["pixel_values"] * std, out["pixel_values_2"] * std, -out["labels"])
        assert negated > 2 * error + 0.01  # the check can tell a wrong flow sign
        flips.add(bool(out["labels"][0].mean() * example["labels"][0].mean() < 0))
    assert flips == {True, False}  # both flipped (u negated) and unflipped items were drawn
    # exact horizontal flip: u negated and mirrored
    mirror = FlowAugmentor((48, 96), seed=0, color_jitter=False, scale_prob=0.0, hflip_prob=1.0, vflip_prob=0.0)
    out = mirror(example, 0)
    torch.testing.assert_close(out["labels"], example["labels"].flip(-1) * torch.tensor([-1.0, 1.0]).view(2, 1, 1))


def test_determinism_epochs_colour_and_validation():
    example = ProceduralStereoDataset(1, height=40, width=80, seed=1)[0]
    aug = StereoAugmentor((32, 64), seed=4)
    a, b = aug(example, 3), aug(example, 3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    aug.set_epoch(1)
    c = aug(example, 3)
    assert not torch.equal(a["pixel_values"], c["pixel_values"])
    plain = StereoAugmentor((32, 64), augment=False)(example, 0)  # centre crop, normalised, labels untouched
    torch.testing.assert_close(plain["labels"], example["labels"][:, 4:36, 8:72])
    with pytest.raises(ValueError, match="smaller than the crop"):
        StereoAugmentor((64, 128))(example, 0)
    with pytest.raises(ValueError, match="labels must be 2"):
        FlowAugmentor((32, 64))(example, 0)
    with pytest.raises(ValueError, match="crop_size"):
        FlowAugmentor((0, 64))
    image = torch.rand(3, 3, 4)
    shifted = adjust_hue(image, 0.2)
    for i in range(3):
        for j in range(4):
            h, s, v = colorsys.rgb_to_hsv(*image[:, i, j].tolist())
            np.testing.assert_allclose(shifted[:, i, j].numpy(), colorsys.hsv_to_rgb((h + 0.2) % 1, s, v), atol=1e-5)


def test_resize_labels_scales_values_and_keeps_invalid():
    flow = torch.ones(2, 4, 6)
    flow[:, 0, 0] = float("inf")
    out = resize_labels(flow, (8, 9), "bilinear")
    assert torch.allclose(out[0][torch.isfinite(out[0])], torch.tensor(1.5))
    assert torch.allclose(out[1][torch.isfinite(out[1])], torch.tensor(2.0))
    assert not torch.isfinite(out[:, 0, 0]).any() and torch.isfinite(out[:, -1, -1]).all()
    disparity = torch.full((1, 4, 6), 3.0)
    disparity[0, 1, 2] = float("inf")
    near = resize_labels(disparity, (4, 12), "nearest")
    assert int((~torch.isfinite(near)).sum()) == 2 and torch.allclose(near[torch.isfinite(near)], torch.tensor(6.0))
