"""Human-mesh-recovery metrics (pure, vectorised torch): MPJPE, PA-MPJPE, PVE and detection precision/recall with
the greedy 2D-keypoint matching Multi-HMR evaluates with (upstream ``utils/training.match_2d_greedy``, from ROMP).

Conventions: points are (..., N, 3) in metres (multiply by 1000 for millimetres); errors are per person, so a
dataset score is the mean over matched people. ``root`` is the index of the joint both sets are centred on before
comparing (0 = pelvis for SMPL-X and the root bone for Anny); ``root=None`` compares camera-space positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "DetectionCounts",
    "detection_precision_recall",
    "keypoint_bbox_iou",
    "match_people_greedy",
    "mpjpe",
    "pa_mpjpe",
    "procrustes_align",
    "pve",
]


def _check_pair(pred: torch.Tensor, target: torch.Tensor, name: str):
    if pred.shape != target.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(f"{name}: prediction and target must both be (..., N, 3) with the same shape, got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")


def _centre(points: torch.Tensor, root: int | None) -> torch.Tensor:
    return points if root is None else points - points[..., root: root + 1, :]


def mpjpe(pred: torch.Tensor, target: torch.Tensor, root: int | None = 0) -> torch.Tensor:
    """Mean per-joint position error (..., N, 3) x2 -> (...): mean Euclidean distance after centring both sets on
    joint ``root``."""
    _check_pair(pred, target, "mpjpe")
    return (_centre(pred.float(), root) - _centre(target.float(), root)).norm(dim=-1).mean(-1)


def pve(pred: torch.Tensor, target: torch.Tensor, pred_root: torch.Tensor | None = None,
        target_root: torch.Tensor | None = None) -> torch.Tensor:
    """Per-vertex error (..., V, 3) x2 -> (...): mean Euclidean distance between vertices, each mesh first moved so
    that its root (``pred_root`` / ``target_root`` (..., 3), e.g. the pelvis joint; upstream centres on the pelvis)
    is at the origin. Without roots the camera-space vertices are compared."""
    _check_pair(pred, target, "pve")
    pred, target = pred.float(), target.float()
    if (pred_root is None) != (target_root is None):
        raise ValueError("pve: give both pred_root and target_root, or neither")
    if pred_root is not None:
        pred = pred - pred_root.float()[..., None, :]
        target = target - target_root.float()[..., None, :]
    return (pred - target).norm(dim=-1).mean(-1)


def procrustes_align(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Best similarity transform (scale, rotation, translation) of ``pred`` onto ``target`` (..., N, 3), in closed
    form (Umeyama, SVD with reflection correction); returns the aligned ``pred``."""
    _check_pair(pred, target, "procrustes_align")
    pred, target = pred.double(), target.double()
    mu_p, mu_t = pred.mean(-2, keepdim=True), target.mean(-2, keepdim=True)
    p, t = pred - mu_p, target - mu_t
    var_p = (p**2).sum((-1, -2))
    cov = t.transpose(-1, -2) @ p  # (..., 3, 3)
    u, s, vh = torch.linalg.svd(cov)
    sign = torch.sign(torch.linalg.det(u @ vh))
    d = torch.ones_like(s)
    d[..., -1] = sign
    rot = u @ torch.diag_embed(d) @ vh
    scale = (s * d).sum(-1) / var_p.clamp_min(1e-12)
    aligned = scale[..., None, None] * (p @ rot.transpose(-1, -2)) + mu_t
    return aligned.to(torch.float32)


def pa_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after Procrustes alignment (scale, rotation, translation) of each predicted person onto its target."""
    _check_pair(pred, target, "pa_mpjpe")
    return (procrustes_align(pred, target) - target.float()).norm(dim=-1).mean(-1)


def keypoint_bbox_iou(pred_kps: torch.Tensor, gt_kps: torch.Tensor) -> torch.Tensor:
    """IoU (P, G) of the boxes around each predicted (P, K, 2) and GT (G, K, 2) keypoint set, with upstream's
    inclusive-pixel convention (``x2 - x1 + 1``)."""
    lo_p, hi_p = pred_kps[..., :2].amin(-2), pred_kps[..., :2].amax(-2)
    lo_g, hi_g = gt_kps[..., :2].amin(-2), gt_kps[..., :2].amax(-2)
    lo = torch.maximum(lo_p[:, None], lo_g[None])
    hi = torch.minimum(hi_p[:, None], hi_g[None])
    inter = (hi - lo + 1).clamp_min(0).prod(-1)
    area_p = (hi_p - lo_p + 1).prod(-1)
    area_g = (hi_g - lo_g + 1).prod(-1)
    return inter / (area_p[:, None] + area_g[None] - inter)


def match_people_greedy(pred_kps: torch.Tensor, gt_kps: torch.Tensor, valid: torch.Tensor | None = None,
                        iou_threshold: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Upstream's greedy 2D matching of the predicted people of one image to its GT people.

    ``pred_kps`` (P, K, 2) and ``gt_kps`` (G, K, 2) pixel keypoints, ``valid`` (G, K) bool (GT keypoints that count;
    all by default). The pair error is upstream's ``np.linalg.norm(diff, 2)`` of the (K, 2) keypoint difference over the
    valid keypoints of the GT person, which for a matrix is its largest singular value.
    Pairs are visited by increasing error (ties: lower prediction index, then lower GT index); a pair is a match when
    its keypoint-box IoU is >= ``iou_threshold`` and neither side is matched yet. Upstream's stopping rule is kept:
    every visited pair below the IoU threshold counts as a "false positive" and the visit stops once
    ``matches + those >= P`` (or every GT is matched).

    Returns ``(pred_index, gt_index)`` int64 tensors of the matches, in matching order. The greedy choice itself is
    computed in at most min(P, G) vectorised rounds; the stopping rule is then applied in closed form."""
    if pred_kps.ndim != 3 or gt_kps.ndim != 3 or pred_kps.shape[1:] != gt_kps.shape[1:]:
        raise ValueError(f"pred_kps (P, K, 2) and gt_kps (G, K, 2) must share K, got {tuple(pred_kps.shape)} and "
                         f"{tuple(gt_kps.shape)}")
    num_pred, num_gt = pred_kps.shape[0], gt_kps.shape[0]
    empty = torch.zeros(0, dtype=torch.long, device=pred_kps.device)
    if num_pred == 0 or num_gt == 0:
        return empty, empty.clone()
    pred_kps, gt_kps = pred_kps[..., :2].double(), gt_kps[..., :2].double()
    if valid is None:
        valid = torch.ones(gt_kps.shape[:2], dtype=torch.bool, device=gt_kps.device)
    if valid.shape != gt_kps.shape[:2]:
        raise ValueError(f"valid must be (G, K) = {tuple(gt_kps.shape[:2])}, got {tuple(valid.shape)}")
    if not valid.any(-1).all():
        raise ValueError("every GT person needs at least one valid keypoint")
    diff = (pred_kps[:, None] - gt_kps[None]) * valid[None, :, :, None]
    # upstream quirk: np.linalg.norm(array_2d, 2) is the matrix 2-norm (largest singular value), not Frobenius
    error = torch.linalg.matrix_norm(diff, ord=2)  # (P, G)
    iou = keypoint_bbox_iou(pred_kps, gt_kps)
    ok = iou >= iou_threshold
    # rank every pair by (error, flat index): the order upstream's argmin loop visits them in
    flat = error.flatten()
    order = torch.sort(flat, stable=True).indices  # a stable sort keeps the flat (pred-major) order on ties
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=order.device)
    rank = rank.view(num_pred, num_gt)
    # greedy rounds: the best-ranked pair that is above the IoU threshold with both sides free
    free = ok.clone()
    big = rank.numel()
    picks = []
    for _ in range(min(num_pred, num_gt)):
        masked = torch.where(free, rank, torch.full_like(rank, big))
        best = masked.min()
        if best == big:
            break
        p, g = divmod(int(torch.nonzero(masked.flatten() == best)[0, 0]), num_gt)
        picks.append((p, g, int(best)))
        free[p, :] = False
        free[:, g] = False
    if not picks:
        return empty, empty.clone()
    picked = torch.tensor(picks, dtype=torch.long, device=pred_kps.device)
    # stopping rule: match k (0-based) happens iff k + #(low-IoU pairs visited before it) < P
    low_ranks = rank[~ok]
    low_before = (low_ranks[None] < picked[:, 2:3]).sum(-1)
    keep = (torch.arange(len(picks), device=picked.device) + low_before) < num_pred
    keep = torch.cumprod(keep.long(), 0).bool()
    return picked[keep, 0], picked[keep, 1]


@dataclass
class DetectionCounts:
    """Detection counts over a set of images: true positives (matched people), predictions, GT people."""

    true_positives: int = 0
    num_predictions: int = 0
    num_ground_truth: int = 0

    def update(self, num_matches: int, num_predictions: int, num_ground_truth: int) -> DetectionCounts:
        self.true_positives += int(num_matches)
        self.num_predictions += int(num_predictions)
        self.num_ground_truth += int(num_ground_truth)
        return self

    @property
    def precision(self) -> float:
        return self.true_positives / self.num_predictions if self.num_predictions else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.num_ground_truth if self.num_ground_truth else 0.0

    @property
    def f1(self) -> float:
        tp, fp, fn = self.true_positives, self.num_predictions - self.true_positives, \
            self.num_ground_truth - self.true_positives
        return tp / (tp + 0.5 * (fp + fn)) if tp else 0.0


def detection_precision_recall(pred_kps_per_image, gt_kps_per_image, iou_threshold: float = 0.05) -> DetectionCounts:
    """Precision / recall / F1 over images (lists of (P_i, K, 2) and (G_i, K, 2) keypoints) with
    :func:`match_people_greedy`; upstream's ``compute_prf1`` without its rounding to 2 decimals."""
    if len(pred_kps_per_image) != len(gt_kps_per_image):
        raise ValueError(f"need one prediction set per image: {len(pred_kps_per_image)} vs {len(gt_kps_per_image)}")
    counts = DetectionCounts()
    for pred, gt in zip(pred_kps_per_image, gt_kps_per_image):
        matched, _ = match_people_greedy(pred, gt, iou_threshold=iou_threshold)
        counts.update(len(matched), pred.shape[0], gt.shape[0])
    return counts
