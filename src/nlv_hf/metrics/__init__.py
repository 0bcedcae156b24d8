"""Metric functions, pure torch, each defined once (usable from ``Trainer(compute_metrics=...)``)."""

from .stereo_flow import (
    StereoFlowDatasetMetrics,
    bad_pixel_rate,
    d1_error,
    endpoint_error,
    flow_metrics,
    pixel_error,
    stereo_metrics,
)

__all__ = ["StereoFlowDatasetMetrics", "bad_pixel_rate", "d1_error", "endpoint_error", "flow_metrics", "pixel_error",
           "stereo_metrics"]
