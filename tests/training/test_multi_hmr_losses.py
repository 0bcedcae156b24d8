"""Multi-HMR training losses against hand-computed values (no body model needed)."""

import math
from types import SimpleNamespace

import pytest
import torch

from nlv_hf.body.camera import focal_from_fov
from nlv_hf.body.rotations import rotvec_to_rotmat
from nlv_hf.models.multi_hmr import MultiHMRConfig
from nlv_hf.models.multi_hmr.loss_multi_hmr import (
    UPSTREAM_LOSS_WEIGHTS,
    centre_heatmap,
    depth_code,
    detection_focal_loss,
    fov_from_intrinsics,
    multi_hmr_losses,
)

TINY = dict(image_size=28, patch_size=14, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
            decoder_hidden_size=32, decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_head_dim=16,
            decoder_intermediate_size=64)


def test_focal_loss_hand_computed():
    scores = torch.tensor([[[0.5, 0.2]]])
    target = torch.tensor([[[1.0, 0.0]]])
    expected = -(math.log(0.5 + 1e-7) * 0.25 + math.log(0.8 + 1e-7) * 0.04)
    assert detection_focal_loss(scores, target).item() == pytest.approx(expected, rel=1e-6)
    # no person: the negative part alone, not divided
    assert detection_focal_loss(scores, torch.zeros_like(target)).item() == pytest.approx(
        -(math.log(0.5 + 1e-7) * 0.25 + math.log(0.8 + 1e-7) * 0.04), rel=1e-6)
    with pytest.raises(ValueError, match="heatmap shape"):
        detection_focal_loss(scores, target[..., :1])


def test_heatmap_and_depth_codes_invert_the_heads():
    det = torch.tensor([[0, 1, 0], [1, 0, 1]])
    heat = centre_heatmap(det, 2, 2)
    assert heat.sum() == 2 and heat[0, 1, 0] == 1 and heat[1, 0, 1] == 1
    depth, focal = torch.tensor([2.0, 5.0]), torch.tensor([100.0, 40.0])
    # Anny head: depth = f / exp(code)
    assert torch.allclose(focal / torch.exp(depth_code(depth, focal, "anny", 28)), depth)
    # SMPL-X head: depth = exp(code * f / f_norm)
    f_norm = focal_from_fov(60.0, 28)
    assert torch.allclose(torch.exp(depth_code(depth, focal, "smplx", 28) * focal / f_norm), depth)
    k = torch.tensor([[[14.0, 0, 14], [0, 14.0, 14], [0, 0, 1]]])
    assert fov_from_intrinsics(k, 28).item() == pytest.approx(math.pi / 2)


def _fake(config, people=2):
    """Model-like outputs and labels whose differences are set by hand."""
    r = config.num_rotations
    k = torch.tensor([[20.0, 0, 14], [0, 20.0, 14], [0, 0, 1]]).expand(2, 3, 3).clone()
    scores = torch.full((2, 2, 2), 0.1)
    scores[0, 0, 1] = 0.9
    scores[1, 1, 1] = 0.6
    det = torch.tensor([[0, 0, 1], [1, 1, 1]])
    zeros = torch.zeros(people, r, 3)
    rot_pred = rotvec_to_rotmat(zeros)
    rot_pred[0, 3] = rotvec_to_rotmat(torch.tensor([0.0, 0.0, math.pi / 2]))  # one joint turned by 90 deg
    outputs = SimpleNamespace(
        scores=scores, offset=torch.tensor([[0.1, 0.2], [0.0, 0.0]]), rotmat=rot_pred,
        betas=torch.tensor([[0.5] * config.num_betas, [0.0] * config.num_betas]),
        depth_raw=torch.tensor([[0.0], [0.0]]), translation=torch.tensor([[0.0, 0.0, 2.0], [1.0, 1.0, 3.0]]),
        intrinsics=k, fov=torch.tensor([[1.0], [1.2]]) if config.body_model == "anny" else None,
    )
    labels = {
        "detections": det,
        "centers_2d": torch.tensor([[(1 + 0.5) * 14, (0 + 0.5) * 14], [(1 + 0.7) * 14, (1 + 0.5) * 14]]),
        "translation": torch.tensor([[0.0, 0.0, 2.5], [1.0, 0.0, 3.0]]),
        "depth": torch.tensor([math.e, 1.0]), "rotvec": zeros,
        "betas": torch.zeros(people, config.num_betas), "fov": torch.tensor([1.5, 1.2]),
    }
    return outputs, labels


@pytest.mark.parametrize("body_model", ["anny", "smplx"])
def test_regression_terms_hand_computed(body_model):
    config = MultiHMRConfig(body_model=body_model, **TINY)
    outputs, labels = _fake(config)
    total, terms = multi_hmr_losses(outputs, labels, config)
    # offsets: targets (0, 0) and (0.2, 0) patches -> |0.1|+|0.2| and |0.2|, mean over 2 people
    assert terms["offset"].item() == pytest.approx((0.3 + 0.2) / 2)
    # a 90 deg turn about z changes 4 entries of the matrix: |0-1| x 2 + |1-0| x 2 = 4 for person 0
    assert terms["rotmat"].item() == pytest.approx(4 / 2, abs=1e-6)
    assert terms["shape"].item() == pytest.approx(0.5 * config.num_betas / 2)
    assert terms["transl"].item() == pytest.approx((0.5 + 1.0) / 2)
    f = 20.0
    if body_model == "anny":  # code = log(f / z)
        codes = [math.log(f / math.e), math.log(f / 1.0)]
        assert terms["fov"].item() == pytest.approx(0.5 / 2)
    else:  # code = log(z) * f_norm / f
        f_norm = focal_from_fov(60.0, 28)
        codes = [1.0 * f_norm / f, 0.0]
        assert "fov" not in terms  # no FOV head
    assert terms["dist"].item() == pytest.approx(sum(abs(c) for c in codes) / 2, rel=1e-5)
    heat = centre_heatmap(labels["detections"], 2, 2)
    assert terms["bce"].item() == pytest.approx(detection_focal_loss(outputs.scores, heat).item())
    expected = sum(UPSTREAM_LOSS_WEIGHTS[k] * v for k, v in terms.items())
    assert total.item() == pytest.approx(expected.item())
    assert not any(k in terms for k in ("j3d", "v3d", "j2d", "v2d"))  # no meshes given


def test_mesh_terms_hand_computed_and_nan_zeroed():
    config = MultiHMRConfig(body_model="anny", **TINY)
    outputs, labels = _fake(config)
    gt_j = torch.tensor([[[0.0, 0.0, 2.0], [0.0, 0.5, 2.0]], [[1.0, 0.0, 3.0], [1.0, 0.5, 3.0]]])
    gt_v = gt_j.clone()
    pred_j = gt_j.clone()
    pred_j[0, 1, 0] += 0.2  # one joint 0.2 m off along x (pelvis-relative)
    pred_j[1] += 5.0  # a global shift is not a pelvis-relative error
    meshes = {"joints_3d": pred_j, "vertices": pred_j.clone(), "translation_pelvis": pred_j[:, 0],
              "joints_2d": torch.zeros(2, 2, 2), "vertices_2d": torch.zeros(2, 2, 2)}
    labels.update(joints_3d=gt_j, vertices=gt_v)
    weights = {k: 0.0 for k in UPSTREAM_LOSS_WEIGHTS}
    weights.update(j3d=1.0, v3d=1.0, j2d=1.0)
    total, terms = multi_hmr_losses(outputs, labels, config, weights, meshes)
    assert terms["j3d"].item() == pytest.approx(0.2 / 2 / 2)  # averaged over 2 joints, then 2 people
    assert terms["v3d"].item() == pytest.approx(0.2 / 2 / 2)
    # GT projections: (14, 14), (14, 24), (20.67, 14), (20.67, 24) -> (24 is outside a 28 image? no: inside)
    proj = torch.einsum("pij,pnj->pni", outputs.intrinsics, gt_j / gt_j[..., 2:])[..., :2]
    inside = ((proj > 0) & (proj < 28)).all(-1)
    assert terms["j2d"].item() == pytest.approx((proj.abs().sum(-1) * inside).sum().item() / inside.sum().item())
    assert total.item() == pytest.approx(terms["j3d"].item() + terms["v3d"].item() + terms["j2d"].item())
    # no person inside the image: the 2D term is NaN upstream and zeroed
    far = gt_j.clone()
    far[..., 0] += 100.0
    labels.update(joints_3d=far)
    _, terms = multi_hmr_losses(outputs, labels, config, {"j2d": 1.0}, meshes)
    assert terms["j2d"].item() == 0.0


def test_missing_labels_are_named():
    config = MultiHMRConfig(body_model="anny", **TINY)
    outputs, labels = _fake(config)
    del labels["depth"]
    with pytest.raises(ValueError, match="depth"):
        multi_hmr_losses(outputs, labels, config)
