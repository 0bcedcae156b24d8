"""Training losses of Multi-HMR (upstream ``loss.Loss``), batched over all people of a batch.

Upstream trains with teacher-forced detections: the head is run at the ground-truth person-centre cells (``idx``) and
every regression term compares the prediction of a GT person with that person's targets. The terms and their default
weights (upstream ``--alpha_*`` arguments) are:

===========  ======  ===========================================================================================
term         weight  definition (mean over people unless said otherwise)
===========  ======  ===========================================================================================
``bce``      10      CenterNet focal loss on the person-centre heatmap (:func:`detection_focal_loss`)
``offset``   1       L1 (summed over x, y) of the sub-patch offset of the centre, in patches
``rotmat``   0.1     L1 summed over all rotation matrices of a person (SMPL-X 53, Anny 163)
``shape``    1       L1 summed over the shape coefficients (SMPL-X betas / Anny phenotypes)
``dist``     1       L1 of the regressed depth code (``depth_raw``) against the code of the GT depth
``transl``   1       L1 (summed over x, y, z) of the centre-joint translation (m)
``j3d``      100     pelvis-relative L1 of the 3D joints, summed over x, y, z and averaged over joints
``v3d``      100     the same for the vertices
``j2d``      1       L1 of the projected joints (pixels), only where the GT projection lies inside the image
``v2d``      1       the same for the vertices (upstream switches both 2D terms on after 10 epochs)
``fov``      1       Anny only (not in upstream's released SMPL-X loss): L1 of the regressed field of view
                     (radians) against the GT camera's, so that the ``K=None`` path is trained
===========  ======  ===========================================================================================

There is no expression term (upstream leaves it as a TODO). Non-finite terms are zeroed as upstream does. Terms whose
weight is 0 are not computed, and the body model is only run when a 3D/2D mesh term is on.

Depth code targets: SMPL-X ``depth_raw = log(z) * f_norm / f_x`` with ``z`` the GT **pelvis** depth (upstream
``prepare_gt`` quirk: inference places the head at that depth); Anny ``depth_raw = log(f_x / z)`` with ``z`` the
depth of the centre joint (the inverse of the Anny head's ``depth = f_x / exp(depth_raw)``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from nlv_hf.body.camera import focal_from_fov, perspective_projection
from nlv_hf.body.rotations import rotvec_to_rotmat

UPSTREAM_LOSS_WEIGHTS = {
    "bce": 10.0, "offset": 1.0, "rotmat": 0.1, "shape": 1.0, "dist": 1.0, "transl": 1.0,
    "j3d": 100.0, "v3d": 100.0, "j2d": 1.0, "v2d": 1.0, "fov": 1.0,
}  # fmt: skip
MESH_TERMS = ("j3d", "v3d", "j2d", "v2d")
REQUIRED_LABELS = ("detections", "centers_2d", "translation", "depth")


def detection_focal_loss(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Upstream detection loss (CornerNet/CenterNet focal loss, ``loss._neg_loss`` with its ``scores >= 1`` target):
    ``scores`` (B, H, W) probabilities, ``target`` (B, H, W) with values >= 1 at person centres. Summed over the map and
    divided by the number of people (not divided when there is none)."""
    if target.shape != scores.shape:
        raise ValueError(f"labels must have the heatmap shape {tuple(scores.shape)}, got {tuple(target.shape)}")
    positive = (target >= 1).to(scores.dtype)
    negative = 1 - positive
    eps = 1e-7
    pos_loss = (torch.log(scores + eps) * (1 - scores) ** 2 * positive).sum()
    neg_loss = (torch.log(1 - scores + eps) * scores**2 * negative).sum()
    num_pos = positive.sum()
    return torch.where(num_pos > 0, -(pos_loss + neg_loss) / num_pos.clamp_min(1), -neg_loss)


def centre_heatmap(detections: torch.Tensor, batch_size: int, grid: int, dtype=torch.float32) -> torch.Tensor:
    """(B, grid, grid) one-hot person-centre map (1 at each (image, row, column) of ``detections``)."""
    heat = torch.zeros(batch_size, grid, grid, dtype=dtype, device=detections.device)
    if detections.numel():
        heat[detections[:, 0], detections[:, 1], detections[:, 2]] = 1.0
    return heat


def depth_code(depth: torch.Tensor, focal_x: torch.Tensor, body_model: str, image_size: int,
               normalization_fov: float = 60.0) -> torch.Tensor:
    """The regressed depth code (``depth_raw``) that gives metric depth ``depth`` (P,) for cameras of focal ``focal_x``
    (P,): the inverse of the heads' depth decoding (see the module docstring)."""
    depth = depth.float().clamp_min(1e-6)
    if body_model == "smplx":
        return torch.log(depth) * focal_from_fov(normalization_fov, image_size) / focal_x.float()
    return torch.log(focal_x.float() / depth)


def _l1(diff: torch.Tensor, sum_dims) -> torch.Tensor:
    """Sum |diff| over ``sum_dims`` then average over people (0 people -> NaN, zeroed later as upstream)."""
    return diff.abs().sum(sum_dims).mean(0)


def _masked_l1_2d(pred: torch.Tensor, target: torch.Tensor, image_size: int) -> torch.Tensor:
    """Upstream 2D term: L1 (summed over x, y) averaged over the points whose GT projection is inside the image."""
    inside = ((target > 0) & (target < image_size)).all(-1)
    err = (pred - target).abs().sum(-1)
    return (err * inside).sum() / inside.sum()


def multi_hmr_losses(outputs, labels: Mapping, config, weights: Mapping | None = None,
                     meshes: Mapping | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Upstream's weighted training loss on teacher-forced people. Returns ``(total, terms)``.

    ``outputs``: the model output for ``detections = labels["detections"]`` (``scores``, ``offset``, ``depth_raw``,
    ``translation``, ``rotmat``, ``betas``, ``fov``, ``intrinsics``). ``meshes``: the predicted posed body
    (``joints_3d``, ``vertices``, ``joints_2d``, ``vertices_2d``, ``translation_pelvis``) when a mesh term is on.
    ``labels`` (P = GT people of the batch, sorted by image, in the order of ``detections``):

    * ``detections`` (P, 3) int64 (image, row, column) of each person's centre cell; ``centers_2d`` (P, 2) its pixel
      position in the model input; ``translation`` (P, 3) camera-space centre joint; ``depth`` (P,) the depth the
      code is regressed from (see the module docstring);
    * ``rotmat`` (P, R, 3, 3) or ``rotvec`` (P, R, 3); ``betas`` (P, num_betas) (compared on the common dims);
    * ``joints_3d`` (P, J, 3), ``vertices`` (P, V, 3) camera space (the pelvis-relative terms use joint 0);
    * optional ``heatmap`` (B, H, W) (else one-hot at ``detections``), ``fov`` (B,) radians of the GT cameras.
    """
    weights = dict(UPSTREAM_LOSS_WEIGHTS if weights is None else weights)
    missing = [k for k in REQUIRED_LABELS if k not in labels]
    if missing:
        raise ValueError(f"Multi-HMR training labels lack {missing}; expected keys {REQUIRED_LABELS} plus "
                         "rotmat|rotvec, betas, joints_3d, vertices (see multi_hmr_losses)")
    scores = outputs.scores
    b, g = scores.shape[0], scores.shape[-1]
    size = config.image_size
    terms: dict[str, torch.Tensor] = {}
    heat = labels.get("heatmap")
    if heat is None:
        heat = centre_heatmap(labels["detections"], b, g, scores.dtype)
    if weights.get("bce", 0):
        terms["bce"] = detection_focal_loss(scores, heat)
    det = labels["detections"]
    if weights.get("offset", 0):
        cell = det[:, [2, 1]].float() + 0.5
        target = labels["centers_2d"].float() / config.patch_size - cell
        terms["offset"] = _l1(outputs.offset.float() - target, -1)
    if weights.get("rotmat", 0) and ("rotmat" in labels or "rotvec" in labels):
        target = labels["rotmat"] if "rotmat" in labels else rotvec_to_rotmat(labels["rotvec"].float())
        terms["rotmat"] = _l1(outputs.rotmat.float() - target.float(), (1, 2, 3))
    if weights.get("shape", 0) and "betas" in labels:
        dim = min(outputs.betas.shape[-1], labels["betas"].shape[-1])
        terms["shape"] = _l1(outputs.betas[:, :dim].float() - labels["betas"][:, :dim].float(), -1)
    focal = outputs.intrinsics[det[:, 0], 0, 0]
    if weights.get("dist", 0):
        target = depth_code(labels["depth"], focal, config.body_model, size, config.normalization_fov)
        terms["dist"] = (outputs.depth_raw[:, 0].float() - target).abs().mean(0)
    if weights.get("transl", 0):
        terms["transl"] = _l1(outputs.translation.float() - labels["translation"].float(), -1)
    if weights.get("fov", 0) and outputs.fov is not None and "fov" in labels:
        terms["fov"] = (outputs.fov[:, 0].float() - labels["fov"].float()).abs().mean(0)
    if meshes is not None and any(weights.get(k, 0) for k in MESH_TERMS):
        k_people = outputs.intrinsics[det[:, 0]]
        if "joints_3d" in labels and (weights.get("j3d", 0) or weights.get("j2d", 0)):
            gt = labels["joints_3d"].float()
            pred = meshes["joints_3d"].float()
            if weights.get("j3d", 0):
                terms["j3d"] = ((pred - pred[:, :1]) - (gt - gt[:, :1])).abs().sum(-1).mean(-1).mean(0)
            if weights.get("j2d", 0):
                terms["j2d"] = _masked_l1_2d(meshes["joints_2d"].float(), perspective_projection(gt, k_people), size)
        if "vertices" in labels and (weights.get("v3d", 0) or weights.get("v2d", 0)):
            gt = labels["vertices"].float()
            pred = meshes["vertices"].float()
            gt_pelvis = labels["joints_3d"][:, :1].float() if "joints_3d" in labels else gt.mean(1, keepdim=True)
            pred_pelvis = meshes["translation_pelvis"].float()[:, None]
            if weights.get("v3d", 0):
                terms["v3d"] = ((pred - pred_pelvis) - (gt - gt_pelvis)).abs().sum(-1).mean(-1).mean(0)
            if weights.get("v2d", 0):
                terms["v2d"] = _masked_l1_2d(meshes["vertices_2d"].float(), perspective_projection(gt, k_people), size)
    terms = {k: torch.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0) for k, v in terms.items()}
    total = sum(weights[k] * v for k, v in terms.items())
    if not terms:
        total = scores.sum() * 0.0
    return total, terms


def fov_from_intrinsics(intrinsics: torch.Tensor, image_size: int) -> torch.Tensor:
    """(B,) horizontal field of view (radians) of (B, 3, 3) cameras over an ``image_size`` wide input (the Anny
    head's ``f = (S / 2) / tan(fov / 2)`` inverted)."""
    return 2 * torch.atan((image_size / 2) / intrinsics[:, 0, 0].float())


__all__ = ["MESH_TERMS", "UPSTREAM_LOSS_WEIGHTS", "centre_heatmap", "depth_code", "detection_focal_loss",
           "fov_from_intrinsics", "multi_hmr_losses"]
