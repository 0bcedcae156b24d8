import numpy as np
import pytest
import torch

from nlv_hf.data.multiview import (ProceduralPairDataset, look_at, pinhole_intrinsics, render_multiview_pair,
                                   render_pair, reproject, write_example_pairs)


def test_render_pair_is_deterministic_per_seed():
    a1, a2 = render_pair(3, 48)
    b1, b2 = render_pair(3, 48)
    c1, _ = render_pair(4, 48)
    assert a1.shape == (48, 48, 3) and a1.dtype == np.uint8
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert np.abs(a1.astype(int) - c1.astype(int)).mean() > 10  # another seed is another scene
    assert np.abs(a1.astype(int) - a2.astype(int)).mean() > 3   # the two views differ
    assert a1.std() > 20  # textured, not flat


def test_non_square_and_tuple_seed():
    pair = render_multiview_pair((7, 1), (40, 64), supersample=1)
    assert pair.image_1.shape == (40, 64, 3) and pair.depth_1.shape == (40, 64)
    assert not np.array_equal(pair.image_1, render_multiview_pair((7, 2), (40, 64), supersample=1).image_1)


def test_camera_geometry():
    pose = look_at(np.array([0.0, 1.0, -3.0]), np.array([0.0, 1.0, 1.0]))
    np.testing.assert_allclose(pose[:3, :3].T @ pose[:3, :3], np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(pose[:3, :3]), 1.0)
    # OpenCV camera in a y-up world: looking at +z, x points to world -x, y (down) to world -y
    np.testing.assert_allclose(pose[:3, 2], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(pose[:3, 1], [0, -1, 0], atol=1e-12)
    k = pinhole_intrinsics(64, 96, fov_deg=90.0)
    assert np.isclose(k[0, 0], 48.0) and np.isclose(k[0, 2], 48.0) and np.isclose(k[1, 2], 32.0)


@pytest.mark.parametrize("seed", [0, 5])
def test_two_views_agree_through_depth_and_poses(seed):
    """Warp view 1 into view 2 with its depth and the known poses: where the surface is visible in both views the
    colours agree (view-independent shading), which is the ground truth cross-view completion relies on."""
    size = 64
    pair = render_multiview_pair(seed, size, supersample=1)
    assert np.isfinite(pair.depth_1).all() and (pair.depth_1 > 0).all()  # a closed room: every ray hits
    coords, depth_in_2 = reproject(pair.depth_1, pair.intrinsics, pair.pose_1, pair.pose_2)
    x, y = np.floor(coords[..., 0]).astype(int), np.floor(coords[..., 1]).astype(int)
    inside = (x >= 0) & (x < size) & (y >= 0) & (y < size) & (depth_in_2 > 0)
    xs, ys = np.clip(x, 0, size - 1), np.clip(y, 0, size - 1)
    visible = inside & (np.abs(pair.depth_2[ys, xs] - depth_in_2) < 0.02 * depth_in_2)
    assert visible.mean() > 0.3  # the views overlap
    diff = np.abs(pair.image_1.astype(int) - pair.image_2[ys, xs].astype(int)).max(-1)
    assert np.median(diff[visible]) <= 8
    assert (diff[visible] < 40).mean() > 0.8  # residual: texture detail below a pixel, edges
    # a wrong pose breaks the agreement
    wrong = pair.pose_2.copy()
    wrong[:3, 3] += np.array([0.8, 0.0, 0.0])
    coords_w, _ = reproject(pair.depth_1, pair.intrinsics, pair.pose_1, wrong)
    xw = np.clip(np.floor(coords_w[..., 0]).astype(int), 0, size - 1)
    yw = np.clip(np.floor(coords_w[..., 1]).astype(int), 0, size - 1)
    diff_w = np.abs(pair.image_1.astype(int) - pair.image_2[yw, xw].astype(int)).max(-1)
    assert np.median(diff_w[visible]) > np.median(diff[visible]) + 10


@pytest.mark.parametrize("kwargs, message", [
    (dict(seed=0, size=4), "between 8 and"),
    (dict(seed=0, size=(32, 32, 3)), "size must be"),
    (dict(seed=0, size=32.5), "size must be"),
    (dict(seed=-1, size=32), "seed must be"),
    (dict(seed="a", size=32), "seed must be"),
    (dict(seed=0, size=32, supersample=5), "supersample"),
    (dict(seed=0, size=32, fov_deg=179), "fov_deg"),
    (dict(seed=0, size=32, max_baseline=0), "max_baseline"),
])
def test_bad_inputs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_multiview_pair(**kwargs)


def test_dataset_items_cache_and_errors():
    ds = ProceduralPairDataset(3, 32, seed=1, supersample=1, cache=True)
    assert len(ds) == 3
    item = ds[1]
    assert set(item) == {"image_1", "image_2"} and item["image_1"].shape == (32, 32, 3)
    np.testing.assert_array_equal(item["image_1"], render_pair((1, 1), 32, supersample=1)[0])
    assert ds[-2]["image_1"] is item["image_1"]  # cached, negative index wraps
    other = ProceduralPairDataset(3, 32, seed=2, supersample=1)
    assert not np.array_equal(other[1]["image_1"], item["image_1"])  # another seed: disjoint scenes
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(ValueError, match="num_pairs"):
        ProceduralPairDataset(0, 32)
    with pytest.raises(ValueError, match="seed"):
        ProceduralPairDataset(2, 32, seed=-3)
    loader = torch.utils.data.DataLoader(ProceduralPairDataset(4, 16, supersample=1), batch_size=2)
    batch = next(iter(loader))
    assert batch["image_1"].shape == (2, 16, 16, 3) and batch["image_1"].dtype == torch.uint8


def test_write_example_pairs(tmp_path):
    import PIL.Image

    written = write_example_pairs(tmp_path, [(2, 0), (2, 1)], size=24, render_size=32, prefix="ex")
    assert [p.name for pair in written for p in pair] == ["ex_0_1.png", "ex_0_2.png", "ex_1_1.png", "ex_1_2.png"]
    first = np.asarray(PIL.Image.open(tmp_path / "ex_0_1.png"))
    np.testing.assert_array_equal(first, render_pair((2, 0), 32)[0][4:28, 4:28])
    with pytest.raises(ValueError, match="render_size"):
        write_example_pairs(tmp_path, [0], size=32, render_size=24)
