"""Stereo-matching and optical-flow metrics (pure torch).

Conventions (as naver/croco ``stereoflow/criterion.py`` and the KITTI devkit): predictions and ground truth are
B×C×H×W with C = 1 (disparity) or C = 2 (flow u, v); invalid ground-truth pixels are non-finite (``inf``/``nan``) or
excluded by an explicit ``valid`` mask (B×H×W bool). Errors are per pixel: ``|d - d*|`` for disparity and the
end-point error ``||f - f*||₂`` for flow.

* :func:`stereo_metrics` / :func:`flow_metrics` reproduce upstream ``StereoMetrics`` / ``FlowMetrics`` (per-image
  averages, then the batch mean; rates in %).
* :func:`endpoint_error`, :func:`bad_pixel_rate`, :func:`d1_error` are the building blocks, each computed over all valid
  pixels of the batch (``reduction="pixels"``) or averaged per image (``reduction="images"``).
* :class:`StereoFlowDatasetMetrics` accumulates pixel-weighted dataset-level numbers batch by batch.
"""

from __future__ import annotations

import torch


def _check(prediction: torch.Tensor, target: torch.Tensor) -> None:
    for name, t in (("prediction", prediction), ("target", target)):
        if not isinstance(t, torch.Tensor) or t.ndim != 4 or t.shape[1] not in (1, 2):
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a (batch, 1 or 2, height, width) tensor (disparity or flow), got {shape}")
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")


def _valid(target: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    mask = torch.isfinite(target).all(dim=1)
    if valid is not None:
        if valid.shape != mask.shape:
            raise ValueError(f"valid must be a (batch, height, width) mask of shape {tuple(mask.shape)}, got "
                             f"{tuple(valid.shape)}")
        mask = mask & valid.bool()
    return mask


def pixel_error(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """B×H×W error: absolute disparity error (C = 1) or end-point error (C = 2); non-finite where the target is."""
    _check(prediction, target)
    return (prediction.float() - target.float()).pow(2).sum(dim=1).sqrt()


def _reduce(values: torch.Tensor, mask: torch.Tensor, reduction: str) -> torch.Tensor:
    values = torch.where(mask, values, torch.zeros_like(values))
    weight = mask.to(values.dtype)
    if reduction == "pixels":
        return values.sum() / weight.sum()
    if reduction == "images":
        return (values.flatten(1).sum(1) / weight.flatten(1).sum(1)).mean()
    raise ValueError(f"reduction must be 'pixels' or 'images', got {reduction!r}")


def endpoint_error(prediction, target, valid=None, reduction: str = "pixels") -> torch.Tensor:
    """Mean end-point error (flow) / mean absolute error (disparity) over valid pixels."""
    return _reduce(pixel_error(prediction, target), _valid(target, valid), reduction)


def bad_pixel_rate(prediction, target, threshold: float, valid=None, reduction: str = "pixels") -> torch.Tensor:
    """Percentage of valid pixels whose error exceeds ``threshold`` pixels (bad-N)."""
    error = pixel_error(prediction, target)
    return 100.0 * _reduce((error > threshold).float(), _valid(target, valid), reduction)


def d1_error(prediction, target, valid=None, abs_threshold: float = 3.0, rel_threshold: float = 0.05,
             reduction: str = "pixels") -> torch.Tensor:
    """KITTI outlier rate in %: D1 for disparity, Fl for flow. A pixel is an outlier when its error exceeds both
    ``abs_threshold`` pixels and ``rel_threshold`` × the ground-truth magnitude (KITTI 2015: 3 px and 5 %)."""
    error = pixel_error(prediction, target)
    magnitude = target.float().pow(2).sum(dim=1).sqrt()
    outlier = (error > abs_threshold) & (error > rel_threshold * magnitude)
    return 100.0 * _reduce(outlier.float(), _valid(target, valid), reduction)


def stereo_metrics(prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> dict:
    """Upstream ``StereoMetrics``: ``avgerr`` (mean |error|), ``rmse``, ``bad@0.5/1.0/2.0/3.0`` (%), each computed per
    image over its valid pixels and averaged over the batch; plus ``D1`` (KITTI, %, same averaging)."""
    _check(prediction, target)
    if prediction.shape[1] != 1:
        raise ValueError(f"stereo metrics take 1-channel disparity maps, got {prediction.shape[1]} channels")
    mask = _valid(target, valid)
    error = pixel_error(prediction, target)
    out = {
        "avgerr": _reduce(error, mask, "images"),
        "rmse": _per_image(error.square(), mask).sqrt().mean(),
    }
    for threshold in (0.5, 1.0, 2.0, 3.0):
        out[f"bad@{threshold:.1f}"] = 100.0 * _reduce((error > threshold).float(), mask, "images")
    out["D1"] = d1_error(prediction, target, valid, reduction="images")
    return out


def flow_metrics(prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> dict:
    """Upstream ``FlowMetrics``: ``L1err`` (sum of |u|,|v| errors), ``EPE``, ``bad@1.0/3.0/5.0`` (% of EPE above),
    each per image then averaged over the batch; plus ``Fl`` (KITTI outliers, %, same averaging)."""
    _check(prediction, target)
    if prediction.shape[1] != 2:
        raise ValueError(f"flow metrics take 2-channel flow maps, got {prediction.shape[1]} channels")
    mask = _valid(target, valid)
    diff = prediction.float() - target.float()
    epe = diff.pow(2).sum(dim=1).sqrt()
    out = {
        "L1err": _reduce(diff.abs().sum(dim=1), mask, "images"),
        "EPE": _reduce(epe, mask, "images"),
    }
    for threshold in (1.0, 3.0, 5.0):
        out[f"bad@{threshold:.1f}"] = 100.0 * _reduce((epe > threshold).float(), mask, "images")
    out["Fl"] = d1_error(prediction, target, valid, reduction="images")
    return out


def _per_image(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    values = torch.where(mask, values, torch.zeros_like(values))
    return values.flatten(1).sum(1) / mask.flatten(1).sum(1).to(values.dtype)


class StereoFlowDatasetMetrics:
    """Dataset-level metrics accumulated batch by batch, every valid pixel weighted equally (upstream
    ``StereoDatasetMetrics`` / ``FlowDatasetMetrics``): mean error (``EPE``; for stereo the mean absolute error),
    bad-N rates, the KITTI outlier rate (``D1``), all in %, and the EPE per ground-truth speed bin
    (``s0-10``, ``s10-40``, ``s40+``, for flow).

    Ground truth at twice the prediction's resolution (Spring) is compared as upstream does: each predicted pixel
    takes the smallest error over its 2×2 ground-truth sub-pixels (and the mean of their magnitudes).

        metrics = StereoFlowDatasetMetrics(thresholds=(0.5, 1, 2, 3))
        for pred, gt in loader: metrics.update(pred, gt)
        metrics.compute()
    """

    def __init__(self, thresholds=(0.5, 1.0, 3.0, 5.0), speed_bins=((0.0, 10.0), (10.0, 40.0), (40.0, float("inf")))):
        self.thresholds = tuple(float(t) for t in thresholds)
        self.speed_bins = tuple((float(lo), float(hi)) for lo, hi in speed_bins)
        self.reset()

    def reset(self) -> None:
        self.num_pixels = 0
        self.error_sum = 0.0
        self.bad = [0] * len(self.thresholds)
        self.outliers = 0
        self.bin_sum = [0.0] * len(self.speed_bins)
        self.bin_count = [0] * len(self.speed_bins)

    @staticmethod
    def _errors(prediction, target, valid):
        doubled = tuple(2 * s for s in prediction.shape[-2:])
        if tuple(target.shape[-2:]) == doubled and target.shape[:2] == prediction.shape[:2]:
            subs = [target[..., i::2, j::2] for i in (0, 1) for j in (0, 1)]
            errors = torch.stack([pixel_error(prediction, sub) for sub in subs])
            errors = errors.nan_to_num(nan=float("inf"), posinf=float("inf"))
            error = errors.min(dim=0).values
            magnitude = torch.stack([sub.float().pow(2).sum(dim=1).sqrt() for sub in subs]).mean(dim=0)
            mask = torch.isfinite(error)
            if valid is not None:
                mask = mask & valid.bool()
            return error, magnitude, mask
        mask = _valid(target, valid)
        return pixel_error(prediction, target), target.float().pow(2).sum(dim=1).sqrt(), mask

    def update(self, prediction: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        error, magnitude, mask = self._errors(prediction, target, valid)
        error, magnitude = error[mask].double(), magnitude[mask].double()
        self.num_pixels += int(mask.sum())
        self.error_sum += float(error.sum())
        for i, threshold in enumerate(self.thresholds):
            self.bad[i] += int((error > threshold).sum())
        self.outliers += int(((error > 3.0) & (error > 0.05 * magnitude)).sum())
        for i, (lo, hi) in enumerate(self.speed_bins):
            in_bin = (magnitude >= lo) & (magnitude < hi)
            self.bin_sum[i] += float(error[in_bin].sum())
            self.bin_count[i] += int(in_bin.sum())

    def compute(self) -> dict:
        if self.num_pixels == 0:
            raise ValueError("no valid pixel was accumulated; call update() with finite ground truth first")
        out = {"EPE": self.error_sum / self.num_pixels}
        for threshold, count in zip(self.thresholds, self.bad):
            out[f"bad@{threshold:.1f}"] = 100.0 * count / self.num_pixels
        out["D1"] = 100.0 * self.outliers / self.num_pixels
        for (lo, hi), total, count in zip(self.speed_bins, self.bin_sum, self.bin_count):
            name = f"s{lo:g}+" if hi == float("inf") else f"s{lo:g}-{hi:g}"
            out[name] = total / count if count else float("nan")
        return out


__all__ = ["StereoFlowDatasetMetrics", "bad_pixel_rate", "d1_error", "endpoint_error", "flow_metrics",
           "pixel_error", "stereo_metrics"]
