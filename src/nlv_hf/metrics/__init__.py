"""Metric functions, pure torch, each defined once (usable from ``Trainer(compute_metrics=...)``)."""

from .human_mesh import (
    DetectionCounts,
    detection_precision_recall,
    match_people_greedy,
    mpjpe,
    pa_mpjpe,
    pve,
)
from .stereo_flow import (
    StereoFlowDatasetMetrics,
    bad_pixel_rate,
    d1_error,
    endpoint_error,
    flow_metrics,
    pixel_error,
    stereo_metrics,
)

__all__ = ["DetectionCounts", "detection_precision_recall", "match_people_greedy", "mpjpe", "pa_mpjpe", "pve",
           "StereoFlowDatasetMetrics", "bad_pixel_rate", "d1_error", "endpoint_error", "flow_metrics", "pixel_error",
           "stereo_metrics"]
