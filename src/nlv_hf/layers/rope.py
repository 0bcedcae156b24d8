"""2D rotary position embedding (RoPE) for patch tokens.

The head dimension is split in two halves: the first half is rotated by the token's row (y) and the second half by
its column (x); each half uses 1D rotate-half RoPE with ``inv_freq_j = f0 / base ** (2j / D)`` (D = half size).
This reproduces CroCo v2's ``RoPE2D`` exactly (and its CUDA kernel, which computes the same function).

The cos/sin tables are computed once per forward for all tokens (B×1×N×head_dim) and shared by every layer, so the
per-layer cost is two multiply-adds on q and k; there is no per-token Python work.
"""

from __future__ import annotations

import torch
from torch import nn


def rotate_half_2d(x: torch.Tensor) -> torch.Tensor:
    """Rotate-half applied independently to the y and x halves of the last dimension."""
    x = x.unflatten(-1, (2, 2, x.shape[-1] // 4))
    return torch.stack((-x[..., 1, :], x[..., 0, :]), dim=-2).flatten(-3)


def apply_rotary_pos_emb_2d(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``x`` is B×heads×N×head_dim; ``cos``/``sin`` broadcast to it (B×1×N×head_dim)."""
    return x * cos + rotate_half_2d(x) * sin


class RotaryEmbedding2D(nn.Module):
    """Computes the (cos, sin) tables of 2D RoPE for integer (y, x) token positions."""

    def __init__(self, head_dim: int, base: float = 100.0, f0: float = 1.0):
        super().__init__()
        if head_dim % 4 != 0:
            raise ValueError(f"2D RoPE needs a head dimension divisible by 4, got {head_dim}")
        self.head_dim = head_dim
        self.base = float(base)
        self.f0 = float(f0)
        half = head_dim // 2
        inv_freq = self.f0 / (self.base ** (torch.arange(0, half, 2).float() / half))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    @torch.no_grad()
    def forward(self, positions: torch.Tensor, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """``positions``: B×N×2 integer (y, x). Returns cos, sin of shape B×1×N×head_dim in ``dtype``."""
        inv_freq = self.inv_freq.to(device=positions.device, dtype=torch.float32)
        angles = positions.to(torch.float32).unsqueeze(-1) * inv_freq  # B×N×2×(head_dim/4)
        angles = torch.cat((angles, angles), dim=-1).flatten(-2)  # [y, y, x, x] blocks
        return angles.cos().to(dtype).unsqueeze(1), angles.sin().to(dtype).unsqueeze(1)

    def rotate(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Apply RoPE to B×heads×N×head_dim ``tokens`` at ``positions`` (convenience for probes and tests)."""
        cos, sin = self(positions, dtype=tokens.dtype)
        return apply_rotary_pos_emb_2d(tokens, cos, sin)
