"""Validation of user images shared by the image processors: PIL, numpy H×W×3 or torch 3×H×W (uint8, or float in
[0, 1]) to an 8-bit RGB PIL image, with a clear ``ValueError`` for anything else."""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch

ACCEPTED = ("a PIL image, a numpy array H×W×3 (uint8 0-255, or float in [0, 1]), a torch tensor 3×H×W "
            "(uint8, or float in [0, 1]), or a list of those")


def to_rgb_pil(image, name: str) -> PIL.Image.Image:
    """Validate one input image and return it as an RGB PIL image (8-bit, like upstream's image files)."""
    if isinstance(image, PIL.Image.Image):
        if image.width == 0 or image.height == 0:
            raise ValueError(f"{name} is empty ({image.width}x{image.height})")
        return image.convert("RGB")
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"{name}: a torch image must have shape (3, H, W), got {tuple(image.shape)}; "
                             f"accepted: {ACCEPTED}")
        array = image.detach().cpu().permute(1, 2, 0).numpy()
    elif isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"{name}: a numpy image must have shape (H, W, 3), got {image.shape}; "
                             f"accepted: {ACCEPTED}")
        array = image
    else:
        raise ValueError(f"{name} has unsupported type {type(image).__name__}; accepted: {ACCEPTED}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if array.dtype == np.uint8:
        return PIL.Image.fromarray(np.ascontiguousarray(array), "RGB")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{name} has dtype {array.dtype}; accepted dtypes are uint8 and float in [0, 1]")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if array.min() < 0.0 or array.max() > 1.0:
        raise ValueError(f"{name} is a float image with values in [{array.min():.3g}, {array.max():.3g}]; "
                         "float images must be in [0, 1]")
    return PIL.Image.fromarray(np.round(array * 255.0).astype(np.uint8), "RGB")
