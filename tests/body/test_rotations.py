"""Rotation utilities: both 6D layouts, Gram-Schmidt, rotmat <-> rotvec (checked against the matrix exponential)."""

import numpy as np
import pytest
import torch

from nlv_hf.body.rotations import (
    rot6d_to_rotmat,
    rotation_to_homogeneous,
    rotmat_to_rot6d,
    rotmat_to_rotvec,
    rotmat_to_unitquat,
    rotvec_to_rotmat,
    special_gramschmidt,
)


def random_rotvecs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64), dim=-1)
    angle = torch.rand(n, 1, generator=g, dtype=torch.float64) * (np.pi - 1e-3)
    angle[:4] = torch.tensor([[0.0], [1e-5], [np.pi - 1e-4], [2e-3]], dtype=torch.float64)
    return axis * angle


def skew(v):
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*v.shape[:-1], 3, 3)


def quat_to_rotmat(q):
    x, y, z, w = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1).reshape(*q.shape[:-1], 3, 3)


def test_rotvec_rotmat_match_the_exponential_map_and_invert():
    rv = random_rotvecs(256)
    r = rotvec_to_rotmat(rv)
    torch.testing.assert_close(r, torch.linalg.matrix_exp(skew(rv)), atol=1e-10, rtol=0)
    torch.testing.assert_close(rotmat_to_rotvec(r), rv, atol=1e-7, rtol=0)
    q = rotmat_to_unitquat(r)
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(256, dtype=torch.float64))
    torch.testing.assert_close(quat_to_rotmat(q), r, atol=1e-10, rtol=0)
    assert (rotmat_to_rotvec(r).norm(dim=-1) <= np.pi + 1e-9).all()


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_6d_roundtrip_and_layouts(layout):
    r = rotvec_to_rotmat(random_rotvecs(64, seed=1)).reshape(4, 16, 3, 3)  # any leading shape
    six = rotmat_to_rot6d(r, layout)
    assert six.shape == (4, 16, 6)
    torch.testing.assert_close(rot6d_to_rotmat(six, layout), r, atol=1e-10, rtol=0)
    other = "columns" if layout == "rows" else "rows"
    assert not torch.allclose(rot6d_to_rotmat(six, other), r)


def test_layout_conventions():
    x = torch.arange(6.0) + torch.tensor([1.0, 0, 0, 0, 1, 0])
    # rows: the 6 numbers are two rows (= the two columns a1, a2 of the matrix)
    torch.testing.assert_close(rot6d_to_rotmat(x, "rows")[:, 0], torch.nn.functional.normalize(x[:3], dim=0))
    # columns: a 3x2 matrix read row-major
    torch.testing.assert_close(rot6d_to_rotmat(x, "columns")[:, 0],
                               torch.nn.functional.normalize(x.reshape(3, 2)[:, 0], dim=0))


def test_gramschmidt_gives_rotations():
    m = torch.randn(100, 3, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    r = special_gramschmidt(m)
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(100, 3, 3))
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(100, dtype=torch.float64))
    with pytest.raises(ValueError, match="3, 2"):
        special_gramschmidt(torch.randn(3, 3))
    with pytest.raises(ValueError, match="layout"):
        rot6d_to_rotmat(torch.randn(6), "diagonal")


def test_homogeneous():
    r = rotvec_to_rotmat(random_rotvecs(5))
    h = rotation_to_homogeneous(r)
    assert h.shape == (5, 4, 4)
    torch.testing.assert_close(h[:, :3, :3], r)
    assert torch.equal(h[:, 3], torch.tensor([0.0, 0, 0, 1], dtype=r.dtype).expand(5, 4))
