"""Procedural stereo/flow pairs: the ground truth is exact, occlusion-correct and deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nlv_hf.data.stereo_flow import (
    ProceduralFlowDataset,
    ProceduralStereoDataset,
    make_flow_pair,
    make_flow_scene,
    make_stereo_pair,
    make_stereo_scene,
    render_pair,
)

H, W = 48, 64


def _grid():
    ys, xs = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], -1)


@pytest.mark.parametrize("make", [make_flow_scene, make_stereo_scene])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_image_2_at_ground_truth_reproduces_image_1_exactly(make, seed):
    scene = make(H, W, seed=seed)
    pair = render_pair(scene, H, W)
    visible = pair["non_occluded"].ravel()
    assert 0.2 < visible.mean() < 1.0  # occlusions exist, and most pixels are matched
    grid = _grid()
    target, _ = scene.correspondence(grid)  # float64 positions in image 2
    np.testing.assert_allclose(pair["flow"].reshape(-1, 2), target - grid, atol=1e-5, rtol=0)
    colour_2, _ = scene.render(1, target)
    error = np.abs(colour_2 - pair["image_1"].reshape(-1, 3)).max(-1)
    assert error[visible].max() < 1e-6
    # the float32 ground truth is as good, up to its rounding
    colour_2, _ = scene.render(1, grid + pair["flow"].reshape(-1, 2))
    assert np.abs(colour_2 - pair["image_1"].reshape(-1, 3)).max(-1)[visible].mean() < 1e-5
    # where the point is hidden by another layer in image 2, another surface (colour) is seen there
    inside = ((target >= 0) & (target <= [W - 1, H - 1])).all(-1)
    hidden = ~visible & inside
    assert hidden.any() and error[hidden].mean() > 0.02


@pytest.mark.parametrize("make", [make_flow_pair, make_stereo_pair])
def test_bilinear_warp_of_image_2_matches_image_1(make):
    pair = make(H, W, seed=5)
    flow = torch.from_numpy(pair["flow"])
    target = torch.stack(torch.meshgrid(torch.arange(W), torch.arange(H), indexing="xy"), -1) + flow
    norm = 2 * target / torch.tensor([W - 1, H - 1]) - 1
    image_2 = torch.from_numpy(pair["image_2"]).permute(2, 0, 1)[None]
    warped = F.grid_sample(image_2.double(), norm[None].double(), align_corners=True)[0].permute(1, 2, 0).numpy()
    # The bilinear footprint must not straddle a layer boundary: keep pixels whose four neighbours in image 2
    # show the layer that image 1 shows.
    scene = (make_flow_scene if make is make_flow_pair else make_stereo_scene)(H, W, seed=5)
    _, layer_1 = scene.render(0, _grid())
    _, layer_2 = scene.render(1, _grid())
    layer_1, layer_2 = layer_1.reshape(H, W), layer_2.reshape(H, W)
    x0 = np.clip(np.floor(target[..., 0].numpy()).astype(int), 0, W - 2)
    y0 = np.clip(np.floor(target[..., 1].numpy()).astype(int), 0, H - 2)
    same = np.ones((H, W), bool)
    for dy in (0, 1):
        for dx in (0, 1):
            same &= layer_2[y0 + dy, x0 + dx] == layer_1
    keep = pair["non_occluded"] & same
    assert keep.mean() > 0.3
    error = np.abs(warped - pair["image_1"]).max(-1)[keep]
    assert error.max() < 0.05 and error.mean() < 0.005  # interpolation error only (smooth textures)


def test_stereo_ground_truth_is_horizontal_and_layered():
    pair = make_stereo_pair(H, W, seed=3, max_disparity=20.0)
    disparity = pair["disparity"]
    np.testing.assert_array_equal(pair["flow"][..., 0], -disparity)
    np.testing.assert_array_equal(pair["flow"][..., 1], 0.0)
    assert disparity.min() >= 1.0 and disparity.max() <= 20.0
    scene = make_stereo_scene(H, W, seed=3, max_disparity=20.0)
    assert np.all(np.diff(scene.disparity) >= 0)  # back to front = far to near
    assert len(np.unique(disparity)) > 1  # several fronto-parallel layers are visible
    # the left border: pixels whose match falls outside the right image are not "non-occluded"
    assert not pair["non_occluded"][:, 0].any()


def test_deterministic_per_seed():
    a, b, c = make_flow_pair(H, W, seed=7), make_flow_pair(H, W, seed=7), make_flow_pair(H, W, seed=8)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["image_1"], c["image_1"])


def test_datasets_yield_model_inputs():
    flow = ProceduralFlowDataset(num_samples=3, height=32, width=40, seed=1, return_non_occluded=True)
    sample = flow[2]
    assert len(flow) == 3 and set(sample) == {"pixel_values", "pixel_values_2", "labels", "non_occluded"}
    assert sample["pixel_values"].shape == (3, 32, 40) and sample["pixel_values"].dtype == torch.float32
    assert 0 <= sample["pixel_values"].min() and sample["pixel_values"].max() <= 1
    assert sample["labels"].shape == (2, 32, 40) and torch.isfinite(sample["labels"]).all()
    again = ProceduralFlowDataset(num_samples=3, height=32, width=40, seed=1, return_non_occluded=True)[2]
    assert all(torch.equal(sample[k], again[k]) for k in sample)
    assert not torch.equal(flow[0]["pixel_values"], sample["pixel_values"])

    stereo = ProceduralStereoDataset(num_samples=2, height=32, width=40, image_dtype="uint8",
                                     mark_occluded_invalid=True, return_non_occluded=True)
    batch = next(iter(torch.utils.data.DataLoader(stereo, batch_size=2)))
    assert batch["pixel_values"].dtype == torch.uint8 and batch["pixel_values_2"].shape == (2, 3, 32, 40)
    assert batch["labels"].shape == (2, 1, 32, 40)
    occluded = ~batch["non_occluded"]
    assert occluded.any() and torch.isposinf(batch["labels"][:, 0][occluded]).all()
    assert torch.isfinite(batch["labels"][:, 0][~occluded]).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"height must be an integer in \[8, 8192\]"):
        make_flow_pair(4, 32)
    with pytest.raises(ValueError, match="num_objects must be"):
        make_flow_scene(32, 32, num_objects=(5, 2))
    with pytest.raises(ValueError, match="max_motion must be a non-negative"):
        make_flow_scene(32, 32, max_motion=-1)
    with pytest.raises(ValueError, match="min_disparity < max_disparity"):
        make_stereo_scene(32, 32, min_disparity=5, max_disparity=5)
    with pytest.raises(ValueError, match="image_dtype must be"):
        ProceduralFlowDataset(2, 32, 32, image_dtype="float16")
    with pytest.raises(ValueError, match="max_disparity"):
        ProceduralStereoDataset(2, 32, 32, max_disparity=-3)
    with pytest.raises(IndexError):
        ProceduralFlowDataset(2, 32, 32)[2]
