"""Inference that spans more than one forward pass (tiled stereo/flow, HMR post-processing, video, ...)."""
