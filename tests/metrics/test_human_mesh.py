"""Human-mesh metrics against hand-computed cases and a loop reference of upstream's greedy matching."""

import math

import numpy as np
import pytest
import torch

from nlv_hf.body.rotations import rotvec_to_rotmat
from nlv_hf.metrics.human_mesh import (
    DetectionCounts,
    detection_precision_recall,
    keypoint_bbox_iou,
    match_people_greedy,
    mpjpe,
    pa_mpjpe,
    procrustes_align,
    pve,
)


def test_mpjpe_hand_computed():
    target = torch.tensor([[[0.0, 0.0, 5.0], [1.0, 0.0, 5.0], [0.0, 1.0, 5.0]]])
    pred = target.clone()
    pred[0, 1] += torch.tensor([0.3, 0.4, 0.0])  # 0.5 m off
    assert mpjpe(pred, target).tolist() == pytest.approx([0.5 / 3])
    # a global shift is removed by root-centring, not without it
    shifted = pred + torch.tensor([0.0, 0.0, 2.0])
    assert mpjpe(shifted, target).tolist() == pytest.approx([0.5 / 3])
    assert mpjpe(shifted, target, root=None).item() == pytest.approx((2 + math.sqrt(0.09 + 0.16 + 4) + 2) / 3)
    # root 1: every other joint moves by (-0.3, -0.4, 0)
    assert mpjpe(pred, target, root=1).item() == pytest.approx(2 * 0.5 / 3)
    with pytest.raises(ValueError, match="same shape"):
        mpjpe(pred, target[:, :2])


def test_pve_roots():
    target = torch.zeros(2, 4, 3)
    pred = target + torch.tensor([0.0, 0.0, 1.0])  # 1 m behind
    assert pve(pred, target).tolist() == pytest.approx([1.0, 1.0])
    roots = torch.zeros(2, 3)
    assert pve(pred, target, roots + torch.tensor([0.0, 0.0, 1.0]), roots).tolist() == pytest.approx([0.0, 0.0])
    with pytest.raises(ValueError, match="both"):
        pve(pred, target, roots, None)


def test_pa_mpjpe_removes_similarity_but_not_deformation():
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(3, 10, 3, generator=gen)
    rot = rotvec_to_rotmat(torch.tensor([[0.3, -1.2, 0.5], [2.0, 0.1, 0.0], [0.0, 0.0, 3.0]]))
    pred = 1.7 * torch.einsum("bij,bnj->bni", rot, target) + torch.tensor([0.5, -2.0, 3.0])
    assert pa_mpjpe(pred, target).max().item() < 1e-5
    assert torch.allclose(procrustes_align(pred, target), target, atol=1e-5)
    assert mpjpe(pred, target).min().item() > 0.1
    # a reflection cannot be undone by a rotation: the error stays
    mirrored = target * torch.tensor([-1.0, 1.0, 1.0])
    assert pa_mpjpe(mirrored, target).min().item() > 1e-2


def test_keypoint_bbox_iou_inclusive_pixels():
    a = torch.tensor([[[0.0, 0.0], [9.0, 9.0]]])  # 10x10 pixels
    b = torch.tensor([[[5.0, 5.0], [14.0, 14.0]]])  # 10x10, overlap 5x5
    assert keypoint_bbox_iou(a, b).item() == pytest.approx(25 / 175)
    far = torch.tensor([[[50.0, 50.0], [60.0, 60.0]]])
    assert keypoint_bbox_iou(a, far).item() == 0.0


def _upstream_greedy(pred, gt, iou_thresh=0.05):
    """Loop transcription of the visiting rule documented by upstream (ROMP) ``match_2d_greedy``, as a reference."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    combs = [(i, j) for i in range(len(pred)) for j in range(len(gt))]
    errors = np.array([np.linalg.norm(pred[i] - gt[j], 2) for i, j in combs])
    iou = keypoint_bbox_iou(torch.tensor(pred), torch.tensor(gt)).numpy()
    gt_done, pred_done = np.zeros(len(gt), bool), np.zeros(len(pred), bool)
    fp, matches = 0, []
    while gt_done.sum() < len(gt) and pred_done.sum() + fp < len(pred):
        while True:
            k = int(np.argmin(errors))
            i, j = combs[k]
            errors[k] = np.inf
            if iou[i, j] < iou_thresh:
                fp += 1
                break
            if not pred_done[i] and not gt_done[j]:
                matches.append((i, j))
                pred_done[i] = gt_done[j] = True
                break
    return matches


def test_greedy_matching_hand_cases():
    pred = torch.tensor([[[0.0, 0.0], [10.0, 10.0]]])
    gt_small = [[3.0, 3.0], [4.0, 4.0]]  # close keypoints but a tiny box: IoU 4/121 < 0.05, error sqrt(90)
    gt_big = [[0.0, 0.0], [20.0, 20.0]]  # IoU 121/441, error sqrt(200)
    gt = torch.tensor([gt_small, gt_big])
    # one prediction: the low-IoU pair is visited first and upstream's counter stops the matching
    p, g = match_people_greedy(pred, gt)
    assert p.tolist() == [] and g.tolist() == []
    # a second, far prediction leaves room for one more visit: pred 0 matches the big person
    pred2 = torch.cat([pred, torch.tensor([[[100.0, 100.0], [110.0, 110.0]]])])
    p, g = match_people_greedy(pred2, gt)
    assert p.tolist() == [0] and g.tolist() == [1]
    # plain case: each prediction next to its own person
    gts = torch.tensor([[[0.0, 0.0], [10.0, 20.0]], [[30.0, 0.0], [40.0, 20.0]]])
    preds = gts[[1, 0]] + 0.5
    p, g = match_people_greedy(preds, gts)
    assert sorted(zip(p.tolist(), g.tolist())) == [(0, 1), (1, 0)]
    assert match_people_greedy(preds[:0], gts)[0].numel() == 0


def test_greedy_matching_equals_upstream_loop_on_random_scenes():
    rng = np.random.default_rng(0)
    for trial in range(200):
        n_pred, n_gt = rng.integers(0, 5), rng.integers(1, 5)
        centres_gt = rng.uniform(0, 200, (n_gt, 1, 2))
        gt = centres_gt + rng.uniform(-25, 25, (n_gt, 6, 2))
        src = rng.integers(0, n_gt, n_pred)
        pred = gt[src] + rng.normal(0, rng.choice([2.0, 20.0, 60.0]), (n_pred, 6, 2))
        p, g = match_people_greedy(torch.tensor(pred), torch.tensor(gt))
        assert list(zip(p.tolist(), g.tolist())) == _upstream_greedy(pred, gt), trial


def test_detection_precision_recall_counts():
    gts = [torch.tensor([[[0.0, 0.0], [10.0, 20.0]], [[30.0, 0.0], [40.0, 20.0]]]),
           torch.tensor([[[0.0, 0.0], [10.0, 20.0]]])]
    preds = [gts[0][:1] + 1.0, torch.cat([gts[1] + 1.0, gts[1] + 300.0])]
    counts = detection_precision_recall(preds, gts)
    assert (counts.true_positives, counts.num_predictions, counts.num_ground_truth) == (2, 3, 3)
    assert counts.recall == pytest.approx(2 / 3) and counts.precision == pytest.approx(2 / 3)
    assert counts.f1 == pytest.approx(2 / (2 + 0.5 * 2))
    assert DetectionCounts().recall == 0.0
    with pytest.raises(ValueError, match="one prediction set per image"):
        detection_precision_recall(preds[:1], gts)
