"""Patch embedding for any H×W that is a multiple of the patch size, plus patch (un)folding helpers."""

from __future__ import annotations

import torch
from torch import nn


def grid_positions(height: int, width: int, device=None) -> torch.Tensor:
    """(row y, col x) integer coordinates of an ``height``×``width`` patch grid in raster order: N×2 int64."""
    ys = torch.arange(height, device=device)
    xs = torch.arange(width, device=device)
    return torch.cartesian_prod(ys, xs)


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """B×C×H×W → B×N×(p·p·C); each patch vector is ordered (row, col, channel), channel last."""
    batch, channels, height, width = images.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {patch_size}")
    h, w = height // patch_size, width // patch_size
    x = images.reshape(batch, channels, h, patch_size, w, patch_size)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(batch, h * w, patch_size * patch_size * channels)


def unpatchify(patches: torch.Tensor, patch_size: int, grid_size: tuple[int, int], channels: int = 3) -> torch.Tensor:
    """Inverse of :func:`patchify`: B×N×(p·p·C) → B×C×(h·p)×(w·p) for the patch grid ``grid_size=(h, w)``."""
    batch, num, dim = patches.shape
    h, w = grid_size
    if num != h * w or dim != patch_size * patch_size * channels:
        raise ValueError(
            f"cannot unpatchify {tuple(patches.shape)} into a {h}x{w} grid of {patch_size}x{patch_size}x{channels} patches"
        )
    x = patches.reshape(batch, h, w, patch_size, patch_size, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(batch, channels, h * patch_size, w * patch_size)


class PatchEmbed(nn.Module):
    """Non-overlapping ``Conv2d(k=p, s=p)`` projection; returns tokens B×N×C and the grid size (h, w)."""

    def __init__(self, patch_size: int, num_channels: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.proj = nn.Conv2d(num_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.num_channels:
            raise ValueError(
                f"expected pixel values of shape (batch, {self.num_channels}, height, width), "
                f"got {tuple(pixel_values.shape)}"
            )
        height, width = pixel_values.shape[-2:]
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f"image size {height}x{width} must be a multiple of the patch size {self.patch_size} in both dimensions"
            )
        x = self.proj(pixel_values.to(self.proj.weight.dtype))
        grid = (x.shape[-2], x.shape[-1])
        return x.flatten(2).transpose(1, 2), grid
