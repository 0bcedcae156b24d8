"""Body-model wrappers: SMPL-X file lookup and errors, batched SMPL-X on the synthetic file, Anny."""

import pytest
import torch

from nlv_hf.body.anny_model import AnnyBodyModel
from nlv_hf.body.smplx_model import BodyModelFilesNotFoundError, SMPLXBodyModel, find_smplx_file
from nlv_hf.body.synthetic_smplx import write_synthetic_smplx


@pytest.fixture(scope="module")
def smplx_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "smplx"
    write_synthetic_smplx(folder)
    return folder


def test_lookup_by_path_and_env(smplx_dir, monkeypatch, tmp_path):
    for var in ("NLV_SMPLX_DIR", "SMPLX_DIR"):
        monkeypatch.delenv(var, raising=False)
    expected = smplx_dir / "SMPLX_NEUTRAL.npz"
    assert find_smplx_file(smplx_dir) == expected
    assert find_smplx_file(smplx_dir.parent) == expected  # folder holding smplx/, as in the official archive
    assert find_smplx_file(expected) == expected
    monkeypatch.setenv("SMPLX_DIR", str(smplx_dir))
    assert find_smplx_file() == expected
    monkeypatch.setenv("NLV_SMPLX_DIR", str(tmp_path))  # searched first, but holds nothing: falls back
    assert find_smplx_file() == expected
    monkeypatch.delenv("SMPLX_DIR")
    with pytest.raises(BodyModelFilesNotFoundError) as err:
        find_smplx_file()
    message = str(err.value)
    assert "SMPLX_NEUTRAL.npz" in message and "https://smpl-x.is.tue.mpg.de" in message and str(tmp_path) in message
    monkeypatch.delenv("NLV_SMPLX_DIR")
    with pytest.raises(BodyModelFilesNotFoundError, match="NLV_SMPLX_DIR/SMPLX_DIR unset"):
        SMPLXBodyModel()


def test_smplx_batched_and_rigid(smplx_dir):
    body = SMPLXBodyModel(smplx_dir)
    g = torch.Generator().manual_seed(0)
    rotvec = 0.3 * torch.randn(3, 53, 3, generator=g)
    betas = torch.randn(3, 10, generator=g)
    out = body(rotvec, betas, torch.zeros(3, 10))
    assert out["vertices"].shape == (3, 10475, 3) and out["joints"].shape == (3, 127, 3)
    torch.testing.assert_close(out["joints"][:, 0], torch.zeros(3, 3), atol=1e-6, rtol=0)  # pelvis at origin
    one = body(rotvec[1:2], betas[1:2])
    torch.testing.assert_close(one["vertices"][0], out["vertices"][1], atol=1e-6, rtol=1e-5)
    # the global rotation rotates the whole body about the pelvis
    turned = rotvec.clone()
    turned[:, 0] = torch.tensor([0.0, 1.0, 0.0])
    base = rotvec.clone()
    base[:, 0] = 0
    r = torch.linalg.matrix_exp(torch.tensor([[0.0, 0, 1], [0, 0, 0], [-1, 0, 0]]))
    torch.testing.assert_close(body(turned, betas)["vertices"], body(base, betas)["vertices"] @ r.T, atol=1e-5,
                               rtol=1e-5)
    assert body.faces.shape == (20908, 3) and body.faces.dtype == torch.int64
    assert body.joint_names[15] == "head"
    with pytest.raises(ValueError, match="rotvec"):
        body(torch.zeros(2, 52, 3), betas[:2])
    with pytest.raises(ValueError, match="betas"):
        body(rotvec, torch.zeros(3, 11))


def test_anny_batched():
    body = AnnyBodyModel()
    assert body.joint_names[103] == "head" and len(body.phenotype_labels) == 11
    rot = torch.eye(3).expand(2, 163, 3, 3).clone()
    pheno = torch.full((2, 11), 0.5)
    pheno[1, 4] = 0.9  # taller
    out = body(rot, pheno)
    assert out["vertices"].shape == (2, 19158, 3) and out["joints"].shape == (2, 163, 3)
    height = out["vertices"][..., 2].amax(-1) - out["vertices"][..., 2].amin(-1)
    assert height[1] > height[0]
    faces = body.faces
    assert faces.shape[1] == 3 and faces.dtype == torch.int64 and int(faces.max()) < 19158
    with pytest.raises(ValueError, match="rotmat"):
        body(torch.eye(3).expand(2, 10, 3, 3), pheno)
