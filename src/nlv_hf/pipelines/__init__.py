"""Inference that spans more than one forward pass (tiled stereo/flow, ...)."""

from .stereo_flow import StereoFlowPipeline, TiledPrediction, tiled_prediction, window_offsets

__all__ = ["StereoFlowPipeline", "TiledPrediction", "tiled_prediction", "window_offsets"]
