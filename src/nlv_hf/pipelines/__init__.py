"""Inference that spans more than one forward pass (tiled stereo/flow, ...)."""

from .mesh_recovery import MeshRecovery, MeshRecoveryPipeline
from .stereo_flow import StereoFlowPipeline, TiledPrediction, tiled_prediction, window_offsets

__all__ = ["MeshRecovery", "MeshRecoveryPipeline", "StereoFlowPipeline", "TiledPrediction", "tiled_prediction",
           "window_offsets"]
