"""Rotation conversions used by the body models (pure, vectorised torch; any leading batch shape).

Two 6D layouts exist in the wild and both are used by NAVER models:

* ``"rows"`` (Multi-HMR SMPL-X head): the 6 numbers are read as a 2x3 matrix whose *rows* are the two columns
  ``a1, a2`` of the rotation (upstream ``x.reshape(-1, 2, 3).permute(0, 2, 1)``);
* ``"columns"`` (Multi-HMR-Anny, SPIN, HMR2.0): the 6 numbers are a 3x2 matrix read row-major, whose two columns are
  ``a1, a2`` (upstream ``x.reshape(-1, 3, 2)``).

Both are followed by Gram-Schmidt (:func:`special_gramschmidt`).
"""

from __future__ import annotations

import torch

SIX_D_LAYOUTS = ("rows", "columns")


def special_gramschmidt(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 2) -> (..., 3, 3) rotation: b1 = a1/|a1|, b2 = normalise(a2 - (b1.a2) b1), b3 = b1 x b2."""
    if m.shape[-2:] != (3, 2):
        raise ValueError(f"special_gramschmidt expects (..., 3, 2) matrices, got shape {tuple(m.shape)}")
    a1, a2 = m[..., 0], m[..., 1]
    b1 = a1 / a1.norm(dim=-1, keepdim=True)
    b2 = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = b2 / b2.norm(dim=-1, keepdim=True)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def rot6d_to_rotmat(x: torch.Tensor, layout: str = "rows") -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) with the given 6D ``layout`` (see the module docstring)."""
    if x.shape[-1] != 6:
        raise ValueError(f"6D rotations must have a last dimension of 6, got shape {tuple(x.shape)}")
    if layout == "rows":
        m = x.reshape(*x.shape[:-1], 2, 3).transpose(-1, -2)
    elif layout == "columns":
        m = x.reshape(*x.shape[:-1], 3, 2)
    else:
        raise ValueError(f"layout must be one of {SIX_D_LAYOUTS}, got {layout!r}")
    return special_gramschmidt(m)


def rotmat_to_rot6d(rotmat: torch.Tensor, layout: str = "rows") -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns in the given ``layout`` (inverse of :func:`rot6d_to_rotmat`)."""
    cols = rotmat[..., :, :2]  # (..., 3, 2)
    if layout == "rows":
        return cols.transpose(-1, -2).reshape(*rotmat.shape[:-2], 6)
    if layout == "columns":
        return cols.reshape(*rotmat.shape[:-2], 6)
    raise ValueError(f"layout must be one of {SIX_D_LAYOUTS}, got {layout!r}")


def rotmat_to_unitquat(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) unit quaternion (x, y, z, w), with the numerically stable branch chosen per matrix
    from the largest of (R00, R11, R22, trace), as SciPy/roma do."""
    m = rotmat
    r00, r01, r02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    r10, r11, r12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    r20, r21, r22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    tr = r00 + r11 + r22
    candidates = torch.stack([
        torch.stack([1 - tr + 2 * r00, r10 + r01, r20 + r02, r21 - r12], -1),
        torch.stack([r01 + r10, 1 - tr + 2 * r11, r21 + r12, r02 - r20], -1),
        torch.stack([r02 + r20, r12 + r21, 1 - tr + 2 * r22, r10 - r01], -1),
        torch.stack([r21 - r12, r02 - r20, r10 - r01, 1 + tr], -1),
    ], dim=-2)  # (..., 4 choices, 4)
    choice = torch.stack([r00, r11, r22, tr], -1).argmax(-1)
    quat = torch.gather(candidates, -2, choice[..., None, None].expand(*choice.shape, 1, 4)).squeeze(-2)
    return quat / quat.norm(dim=-1, keepdim=True)


def unitquat_to_rotvec(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) unit quaternion (x, y, z, w) -> (..., 3) rotation vector with angle in [0, pi]."""
    quat = torch.where(quat[..., 3:4] < 0, -quat, quat)
    xyz, w = quat[..., :3], quat[..., 3]
    angle = 2 * torch.atan2(xyz.norm(dim=-1), w)
    small = angle.abs() <= 1e-3
    safe = torch.where(small, torch.ones_like(angle), angle)
    scale = torch.where(small, 2 + angle**2 / 12 + 7 * angle**4 / 2880, safe / torch.sin(safe / 2))
    return scale[..., None] * xyz


def rotmat_to_rotvec(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) axis-angle (through the unit quaternion)."""
    if rotmat.shape[-2:] != (3, 3):
        raise ValueError(f"rotation matrices must be (..., 3, 3), got shape {tuple(rotmat.shape)}")
    return unitquat_to_rotvec(rotmat_to_unitquat(rotmat))


def rotvec_to_rotmat(rotvec: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) with Rodrigues' formula (first-order expansion near zero)."""
    if rotvec.shape[-1] != 3:
        raise ValueError(f"rotation vectors must be (..., 3), got shape {tuple(rotvec.shape)}")
    theta = rotvec.norm(dim=-1, keepdim=True)
    small = theta < eps
    axis = rotvec / torch.where(small, torch.ones_like(theta), theta)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*x.shape, 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand(k.shape)
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    rodrigues = eye + s * k + (1 - c) * (k @ k)
    rx, ry, rz = rotvec.unbind(-1)
    first_order = eye + torch.stack([zero, -rz, ry, rz, zero, -rx, -ry, rx, zero], -1).reshape(*x.shape, 3, 3)
    return torch.where(small[..., None], first_order, rodrigues)


def rotation_to_homogeneous(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4, 4) with zero translation."""
    top = torch.cat([rotmat, torch.zeros_like(rotmat[..., :1])], dim=-1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 0, 3] = 1
    return torch.cat([top, bottom], dim=-2)
