"""Flow colour wheel and disparity colormap: known values, layouts, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nlv_hf.data.visualization import colorwheel, disparity_to_color, flow_to_color


def test_colorwheel_known_entries():
    wheel = colorwheel()
    assert wheel.shape == (55, 3) and wheel.dtype == np.uint8
    # Segment starts of the Baker et al. wheel: red, yellow, green, cyan, blue, magenta.
    for index, rgb in ((0, (255, 0, 0)), (15, (255, 255, 0)), (21, (0, 255, 0)), (25, (0, 255, 255)),
                       (36, (0, 0, 255)), (49, (255, 0, 255))):
        assert tuple(wheel[index]) == rgb
    # Steps inside segments: floor(255 i / n) rising, 255 - floor(255 i / n) falling.
    assert tuple(wheel[1]) == (255, 17, 0)
    assert tuple(wheel[16]) == (213, 255, 0)
    assert tuple(wheel[27]) == (0, 209, 255)
    assert tuple(wheel[54]) == (255, 0, 43)


def _one(u, v, **kwargs):
    return tuple(int(c) for c in flow_to_color(np.array([[[u, v]]], dtype=np.float64), **kwargs)[0, 0])


def test_flow_colors_known_values():
    assert _one(0.0, 0.0) == (255, 255, 255)  # no motion: white
    assert _one(1.0, 0.0, max_flow=1.0) == (255, 0, 0)  # right: red (wheel entry 0)
    assert _one(-1.0, 0.0, max_flow=1.0) == (0, 209, 255)  # left: wheel entry 27
    assert _one(0.0, -1.0, max_flow=1.0) == (88, 0, 255)  # up: halfway between entries 40 and 41
    assert _one(0.0, 1.0, max_flow=1.0) == (255, 229, 0)  # down: halfway between entries 13 and 14
    assert _one(-0.5, 0.0, max_flow=1.0) == (127, 232, 255)  # half magnitude: halfway to white
    assert _one(-2.0, 0.0, max_flow=1.0) == (0, 156, 191)  # beyond max_flow: darkened to 75 %
    for bad in (np.inf, np.nan, 2e9):
        assert _one(bad, 0.0) == (0, 0, 0)
    assert _one(np.nan, 0.0, invalid_color=(1, 2, 3)) == (1, 2, 3)


def test_flow_default_normalisation_and_layouts():
    flow = np.zeros((3, 4, 2), np.float32)
    flow[0, 0] = (-2.0, 0.0)
    flow[0, 1] = (-1.0, 0.0)
    flow[2, 3] = np.inf
    rgb = flow_to_color(flow)
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (0, 209, 255) and tuple(rgb[0, 1]) == (127, 232, 255)
    assert tuple(rgb[2, 3]) == (0, 0, 0) and tuple(rgb[1, 1]) == (255, 255, 255)
    # torch: channels first, batched, normalised per image
    batch = torch.from_numpy(np.stack([flow, 3 * flow])).permute(0, 3, 1, 2)
    out = flow_to_color(batch)
    assert out.shape == (2, 3, 3, 4) and out.dtype == torch.uint8
    np.testing.assert_array_equal(out[0].permute(1, 2, 0).numpy(), rgb)
    np.testing.assert_array_equal(out[1].permute(1, 2, 0).numpy(), rgb)
    assert flow_to_color(batch[0]).shape == (3, 3, 4)
    # half precision in, same picture out (values here are exact in bfloat16)
    assert torch.equal(flow_to_color(batch.bfloat16()), out)


def test_flow_bad_input():
    with pytest.raises(ValueError, match=r"numpy flow must have shape \(H, W, 2\)"):
        flow_to_color(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"torch flow must have shape"):
        flow_to_color(torch.zeros(3, 4, 2))
    with pytest.raises(ValueError, match="max_flow must be a positive"):
        flow_to_color(np.zeros((2, 3, 2)), max_flow=0)
    with pytest.raises(ValueError, match="numpy array or a torch tensor"):
        flow_to_color([[0.0, 1.0]])


def test_disparity_colors():
    disparity = np.array([[0.0, 5.0, 10.0], [np.inf, np.nan, 20.0]], np.float32)
    rgb = disparity_to_color(disparity)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (0, 0, 4)  # inferno's first stop (#000004) at the minimum
    assert tuple(rgb[1, 2]) == (252, 255, 164)  # and its last (#fcffa4) at the maximum
    assert tuple(rgb[1, 0]) == (0, 0, 0) and tuple(rgb[1, 1]) == (0, 0, 0)  # invalid
    grey = disparity_to_color(disparity, vmin=0, vmax=20, cmap="gray")
    assert tuple(grey[0, 1]) == (64, 64, 64) and tuple(grey[0, 2]) == (128, 128, 128)
    clipped = disparity_to_color(disparity, vmin=0, vmax=10, cmap="gray")
    assert tuple(clipped[1, 2]) == (255, 255, 255)
    tensor = torch.from_numpy(disparity)
    out = disparity_to_color(tensor[None, None].repeat(2, 1, 1, 1))
    assert out.shape == (2, 3, 2, 3) and out.dtype == torch.uint8
    np.testing.assert_array_equal(out[1].permute(1, 2, 0).numpy(), rgb)
    assert disparity_to_color(tensor).shape == (3, 2, 3)
    assert disparity_to_color(tensor[None]).shape == (3, 2, 3)
    with pytest.raises(ValueError, match="unknown colormap 'jet'"):
        disparity_to_color(disparity, cmap="jet")
    with pytest.raises(ValueError, match="vmax .* must be greater than vmin"):
        disparity_to_color(disparity, vmin=3, vmax=3)
    with pytest.raises(ValueError, match=r"torch disparity must have shape"):
        disparity_to_color(torch.zeros(2, 3, 4, 5))
