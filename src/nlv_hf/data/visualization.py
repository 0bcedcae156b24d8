"""Colour-coded pictures of disparity and optical flow (vectorised, numpy or torch in, same type out).

Layouts: numpy arrays are channels-last like the files (disparity ``H×W``, flow ``H×W×2`` → ``H×W×3`` uint8);
torch tensors are channels-first like model outputs and labels (disparity ``[B×]1×H×W`` or ``H×W``, flow
``[B×]2×H×W`` → ``[B×]3×H×W`` uint8). Invalid pixels (NaN, ±inf, or |value| > 1e9, the .flo "unknown" mark)
are painted ``invalid_color`` (black by default).

* ``flow_to_color`` is the standard Middlebury colour coding of Baker et al. (2011): a 55-colour wheel
  (RY 15, YG 6, GC 4, CB 11, BM 13, MR 6), hue from the direction ``atan2(-v, -u)``, saturation from the magnitude
  normalised by ``max_flow`` (default: the largest valid magnitude of each image); magnitudes above 1 are darkened to
  75 %. Zero flow is white; flow pointing right (+u) is red.
* ``disparity_to_color`` maps ``(d - vmin) / (vmax - vmin)`` through a colormap (default ``inferno``, like the
  upstream CroCo-Stereo visualisation), so near (large disparity) is bright.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["COLORMAPS", "colorwheel", "disparity_to_color", "flow_to_color"]

_UNKNOWN = 1e9
# Segments of the Middlebury wheel (length, start, end): red→yellow→green→cyan→blue→magenta→red.
_WHEEL_SEGMENTS = ((15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)),
                   (4, (0, 255, 0), (0, 255, 255)), (11, (0, 255, 255), (0, 0, 255)),
                   (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0)))

# Ten evenly spaced stops of matplotlib's perceptually uniform colormaps (CC0), interpolated linearly.
COLORMAPS = {
    "inferno": ("#000004", "#1b0c42", "#4b0c6b", "#781c6d", "#a52c60", "#cf4446", "#ed6925", "#fb9a06",
                "#f7d03c", "#fcffa4"),
    "viridis": ("#440154", "#482878", "#3e4a89", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6dcd59",
                "#b4de2c", "#fde725"),
    "gray": ("#000000", "#ffffff"),
}


def colorwheel() -> np.ndarray:
    """The 55×3 uint8 Middlebury flow colour wheel. Within a segment of length n, the changing channel steps by
    ``floor(255·i/n)`` (rising) or ``255 - floor(255·i/n)`` (falling), as in the reference C++ code."""
    rows = []
    for length, start, end in _WHEEL_SEGMENTS:
        steps = (255 * np.arange(length)) // length
        block = np.empty((length, 3), dtype=np.int64)
        for channel in range(3):
            if start[channel] == end[channel]:
                block[:, channel] = start[channel]
            elif end[channel] > start[channel]:
                block[:, channel] = steps
            else:
                block[:, channel] = 255 - steps
        rows.append(block)
    return np.concatenate(rows).astype(np.uint8)


def _hex_stops(name: str) -> torch.Tensor:
    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; accepted: {sorted(COLORMAPS)}")
    return torch.tensor([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in COLORMAPS[name]], dtype=torch.float64)


def _check_color(color) -> torch.Tensor:
    values = torch.as_tensor(color, dtype=torch.float64).flatten()
    if values.numel() != 3 or values.min() < 0 or values.max() > 255:
        raise ValueError(f"invalid_color must be three values in [0, 255], got {color!r}")
    return values


def _to_channels_first(value, channels: int, name: str):
    """Return (float64 tensor B×C×H×W, restore function) for a numpy (channels-last) or torch (channels-first) input."""
    if isinstance(value, np.ndarray):
        if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
            raise ValueError(f"{name} must be real-valued, got dtype {value.dtype}")
        expected = "(H, W)" if channels == 1 else "(H, W, 2)"
        if channels == 1 and value.ndim == 3 and value.shape[2] == 1:
            value = value[..., 0]
        if (channels == 1 and value.ndim != 2) or (channels == 2 and (value.ndim != 3 or value.shape[2] != 2)):
            raise ValueError(f"a numpy {name} must have shape {expected}, got {value.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float64))
        tensor = tensor[None, None] if channels == 1 else tensor.permute(2, 0, 1)[None]
        return tensor, lambda rgb: rgb[0].permute(1, 2, 0).numpy()
    if isinstance(value, torch.Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise ValueError(f"{name} must be real-valued, got dtype {value.dtype}")
        shape = tuple(value.shape)
        tensor = value.detach().to("cpu", torch.float64)
        if channels == 1 and tensor.ndim == 2:
            tensor = tensor[None]
        if tensor.ndim < 3 or tensor.shape[-3] != channels:
            expected = "(H, W), (1, H, W) or (B, 1, H, W)" if channels == 1 else "(2, H, W) or (B, 2, H, W)"
            raise ValueError(f"a torch {name} must have shape {expected}, got {shape}")
        lead = tensor.shape[:-3]
        tensor = tensor.reshape(-1, *tensor.shape[-3:])
        device = value.device
        out_lead = lead if not (channels == 1 and len(shape) == 2) else ()
        return tensor, lambda rgb: rgb.reshape(*out_lead, *rgb.shape[1:]).to(device)
    raise ValueError(f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}")


def _valid(values: torch.Tensor) -> torch.Tensor:
    """B×C×H×W → B×H×W: every channel finite and below the unknown threshold."""
    return (torch.isfinite(values) & (values.abs() < _UNKNOWN)).all(dim=1)


def flow_to_color(flow, max_flow: float | None = None, invalid_color=(0, 0, 0)):
    """Colour-code optical flow with the Middlebury wheel (see the module docstring for layouts).

    ``max_flow`` normalises the magnitude (a positive number); by default each image uses its largest valid flow
    magnitude. Returns uint8 RGB in the input's library and layout.
    """
    tensor, restore = _to_channels_first(flow, 2, "flow")
    fill = _check_color(invalid_color)
    if max_flow is not None and not (np.isfinite(max_flow) and max_flow > 0):
        raise ValueError(f"max_flow must be a positive finite number or None, got {max_flow!r}")
    valid = _valid(tensor)
    uv = torch.where(valid[:, None], tensor, torch.zeros((), dtype=tensor.dtype))
    radius = torch.linalg.vector_norm(uv, dim=1)
    if max_flow is None:
        scale = radius.flatten(1).amax(dim=1).clamp_min(0.0)[:, None, None]
    else:
        scale = torch.full((uv.shape[0], 1, 1), float(max_flow), dtype=uv.dtype)
    eps = float(np.finfo(np.float64).eps)
    radius = radius / (scale + eps)
    wheel = torch.from_numpy(colorwheel().astype(np.float64))
    ncols = wheel.shape[0]
    angle = torch.atan2(-uv[:, 1], -uv[:, 0]) / torch.pi
    position = (angle + 1) / 2 * (ncols - 1)
    k0 = position.floor().long().clamp(0, ncols - 1)
    k1 = torch.where(k0 + 1 == ncols, torch.zeros_like(k0), k0 + 1)
    frac = (position - k0)[..., None]
    color = (1 - frac) * wheel[k0] + frac * wheel[k1]  # B×H×W×3 in 0..255
    inside = (radius <= 1)[..., None]
    color = torch.where(inside, 255 - radius[..., None] * (255 - color), color * 0.75)
    color = torch.where(valid[..., None], color, fill)
    rgb = color.floor().clamp(0, 255).to(torch.uint8).permute(0, 3, 1, 2)
    return restore(rgb)


def disparity_to_color(disparity, vmin: float | None = None, vmax: float | None = None, cmap: str = "inferno",
                       invalid_color=(0, 0, 0)):
    """Colour-code a disparity map (see the module docstring for layouts).

    ``vmin``/``vmax`` fix the range (default: the min/max of the valid pixels of each image); values outside are
    clipped. ``cmap`` is one of ``COLORMAPS``. Returns uint8 RGB in the input's library and layout.
    """
    stops = _hex_stops(cmap)
    tensor, restore = _to_channels_first(disparity, 1, "disparity")
    fill = _check_color(invalid_color)
    for name, bound in (("vmin", vmin), ("vmax", vmax)):
        if bound is not None and not np.isfinite(bound):
            raise ValueError(f"{name} must be a finite number or None, got {bound!r}")
    if vmin is not None and vmax is not None and vmax <= vmin:
        raise ValueError(f"vmax ({vmax}) must be greater than vmin ({vmin})")
    valid = _valid(tensor)
    values = tensor[:, 0]
    any_valid = valid.flatten(1).any(dim=1)
    if vmin is None:
        low = values.masked_fill(~valid, float("inf")).flatten(1).amin(dim=1)
        low = torch.where(any_valid, low, torch.zeros_like(low))
    else:
        low = torch.full((values.shape[0],), float(vmin), dtype=values.dtype)
    if vmax is None:
        high = values.masked_fill(~valid, float("-inf")).flatten(1).amax(dim=1)
        high = torch.where(any_valid, high, torch.ones_like(high))
    else:
        high = torch.full((values.shape[0],), float(vmax), dtype=values.dtype)
    span = (high - low).clamp_min(1e-12)[:, None, None]
    t = ((torch.where(valid, values, low[:, None, None]) - low[:, None, None]) / span).clamp(0, 1)
    position = t * (stops.shape[0] - 1)
    k0 = position.floor().long().clamp(max=stops.shape[0] - 2)
    frac = (position - k0)[..., None]
    color = (1 - frac) * stops[k0] + frac * stops[k0 + 1]
    color = torch.where(valid[..., None], color, fill)
    rgb = color.round().clamp(0, 255).to(torch.uint8).permute(0, 3, 1, 2)
    return restore(rgb)
