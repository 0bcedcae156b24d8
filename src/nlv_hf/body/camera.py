"""Pinhole camera helpers shared by the human-mesh models (batched torch)."""

from __future__ import annotations

import math

import torch


def focal_from_fov(fov_degrees: float, image_size: float) -> float:
    """Focal length (pixels) of a camera whose field of view ``fov_degrees`` spans ``image_size`` pixels."""
    if not 0 < fov_degrees < 180:
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_degrees}")
    return image_size / (2 * math.tan(math.radians(fov_degrees) / 2))


def intrinsics_from_fov(fov_degrees: float, width: int, height: int | None = None, batch_size: int = 1,
                        dtype=torch.float32, device=None) -> torch.Tensor:
    """(B, 3, 3) intrinsics with the focal of ``fov_degrees`` over ``width`` and the principal point at
    (width // 2, height // 2) (the upstream Multi-HMR demo default)."""
    height = width if height is None else height
    f = focal_from_fov(fov_degrees, width)
    k = torch.tensor([[f, 0.0, width // 2], [0.0, f, height // 2], [0.0, 0.0, 1.0]], dtype=dtype, device=device)
    return k.expand(batch_size, 3, 3).clone()


def perspective_projection(points: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) camera-space points, (B, 3, 3) intrinsics -> (B, N, 2) pixels."""
    y = points / points[..., -1:]
    return torch.einsum("bij,bkj->bki", intrinsics, y)[..., :2]


def inverse_perspective_projection(pixels: torch.Tensor, intrinsics: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """(B, N, 2) pixels, (B, 3, 3) intrinsics, (B, N, 1) depth (z) -> (B, N, 3) camera-space points.

    ``torch.linalg.inv`` has no half-precision kernel, so the inverse is taken in float32."""
    homogeneous = torch.cat([pixels, torch.ones_like(pixels[..., :1])], dim=-1)
    k_inv = torch.linalg.inv(intrinsics.float()).to(pixels.dtype)
    return torch.einsum("bij,bkj->bki", k_inv, homogeneous) * depth
