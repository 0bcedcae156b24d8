"""Fixed 2D sine-cosine position embeddings (MAE / CroCo v1 layout) and their bicubic resize."""

from __future__ import annotations

import torch
from torch import nn


def _sincos_1d(embed_dim: int, positions: torch.Tensor) -> torch.Tensor:
    omega = torch.arange(embed_dim // 2, dtype=torch.float64) / (embed_dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.reshape(-1).to(torch.float64)[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def get_2d_sincos_pos_embed(embed_dim: int, grid_size: int | tuple[int, int]) -> torch.Tensor:
    """Table of shape (h·w)×embed_dim in raster order; the first half of the channels encodes the column (x),
    the second half the row (y), each as [sin, cos]. Computed in float64 and returned as float32 (as upstream)."""
    if embed_dim % 4 != 0:
        raise ValueError(f"sin-cos position embeddings need embed_dim divisible by 4, got {embed_dim}")
    h, w = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.cat([_sincos_1d(embed_dim // 2, xs), _sincos_1d(embed_dim // 2, ys)], dim=1).float()


def interpolate_pos_embed(table: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int]) -> torch.Tensor:
    """Resize an N×C table from ``old_grid`` to ``new_grid`` with bicubic interpolation (``align_corners=False``).

    This is what the upstream code does when a checkpoint is loaded at another image size; it is *not* the same as
    regenerating the sin-cos table at the new size."""
    old_grid, new_grid = tuple(old_grid), tuple(new_grid)
    if old_grid == new_grid:
        return table
    if table.shape[0] != old_grid[0] * old_grid[1]:
        raise ValueError(f"table of {table.shape[0]} positions does not match the grid {old_grid}")
    grid = table.reshape(1, old_grid[0], old_grid[1], -1).permute(0, 3, 1, 2)
    grid = nn.functional.interpolate(grid.float(), size=new_grid, mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).flatten(1, 2).squeeze(0).to(table.dtype)
