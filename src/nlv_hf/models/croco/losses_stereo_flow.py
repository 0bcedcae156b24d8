"""Confidence-aware (Laplacian) regression losses of CroCo-Stereo / CroCo-Flow (naver/croco ``stereoflow/criterion.py``,
read for behaviour; independently implemented).

Ground truth marks invalid pixels with non-finite values (upstream datasets use ``+inf``); a pixel counts when the
first ground-truth channel is finite (and, with ``max_gtnorm``, when its disparity / flow norm is below it). The
absolute error is summed over the channels and averaged over valid pixels:

* ``"laplacian"``          (CroCo-Stereo ETH3D):  ``|e| / exp(c) + c``
* ``"laplacian_bounded"``  (CroCo-Flow):          ``c' = (b - a)·sigmoid(c) + a``,        ``|e| / c' + log c'``
* ``"laplacian_bounded2"`` (CroCo-Stereo):        ``c' = 2a·(sigmoid(c / b) - 0.5)``,     ``|e| / exp(c') + c'``
* ``"l1"`` (no confidence): mean of ``|e|`` over every valid ground-truth *element*.
"""

from __future__ import annotations

import torch


def _valid_mask(target: torch.Tensor, max_gtnorm: float | None) -> torch.Tensor:
    """B×H×W bool: finite first channel and (optionally) ground-truth norm below ``max_gtnorm``."""
    valid = torch.isfinite(target[:, 0])
    if max_gtnorm is not None:
        norm = target[:, 0].abs() if target.shape[1] == 1 else target.pow(2).sum(dim=1).sqrt()
        valid = valid & (norm < max_gtnorm)
    return valid


def confidence_loss_terms(prediction: torch.Tensor, target: torch.Tensor, confidence: torch.Tensor | None,
                          loss_type: str, a: float | None = None, b: float | None = None,
                          max_gtnorm: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel loss (B×H×W, zero where invalid) and the valid mask (B×H×W), in float32.

    ``prediction`` and ``target`` are B×C×H×W, ``confidence`` B×H×W or B×1×H×W (raw head channel)."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must have the same "
                         "shape (batch, channels, height, width)")
    prediction, target = prediction.float(), target.float()
    valid = _valid_mask(target, max_gtnorm)
    safe_target = torch.where(valid.unsqueeze(1), target, prediction.detach())
    error = (safe_target - prediction).abs()
    if loss_type == "l1":
        # element-wise mean over finite ground truth: expose it as a per-pixel sum with a per-pixel element count
        finite = torch.isfinite(target)
        if max_gtnorm is not None:
            finite = finite & _valid_mask(torch.nan_to_num(target, posinf=0.0, neginf=0.0), max_gtnorm).unsqueeze(1)
        error = (torch.where(finite, target, prediction.detach()) - prediction).abs()
        per_pixel = torch.where(finite, error, torch.zeros_like(error)).sum(dim=1)
        return per_pixel, finite.sum(dim=1).to(per_pixel.dtype)
    if confidence is None:
        raise ValueError(f"loss_type {loss_type!r} needs the confidence channel")
    conf = confidence.float()
    if conf.ndim == 4:
        conf = conf[:, 0]
    error = error.sum(dim=1)
    if loss_type == "laplacian":
        per_pixel = error / torch.exp(conf) + conf
    elif loss_type == "laplacian_bounded":
        conf = (b - a) * torch.sigmoid(conf) + a
        per_pixel = error / conf + torch.log(conf)
    elif loss_type == "laplacian_bounded2":
        conf = 2 * a * (torch.sigmoid(conf / b) - 0.5)
        per_pixel = error / torch.exp(conf) + conf
    else:
        raise ValueError(f"unknown loss_type {loss_type!r}; accepted: laplacian, laplacian_bounded, "
                         "laplacian_bounded2, l1")
    per_pixel = torch.where(valid, per_pixel, torch.zeros_like(per_pixel))
    return per_pixel, valid.to(per_pixel.dtype)


def confidence_loss(prediction: torch.Tensor, target: torch.Tensor, confidence: torch.Tensor | None,
                    loss_type: str, a: float | None = None, b: float | None = None,
                    max_gtnorm: float | None = None) -> torch.Tensor:
    """Mean loss over the valid pixels of the batch (NaN when no pixel is valid, as upstream)."""
    per_pixel, weight = confidence_loss_terms(prediction, target, confidence, loss_type, a, b, max_gtnorm)
    return per_pixel.sum() / weight.sum()


def loss_from_config(config, prediction, target, confidence):
    return confidence_loss(prediction, target, confidence, config.loss_type, config.loss_a, config.loss_b,
                           config.loss_max_gtnorm)


__all__ = ["confidence_loss", "confidence_loss_terms", "loss_from_config"]
