"""Data: file formats, visualisation, procedural generators (multi-view pairs, stereo/flow pairs, Anny people), pair
augmentations and dataset-builder helpers shared by tests, demos and training."""

from .augment import CroCoPairTransform
from .multiview import MultiViewPair, ProceduralPairDataset, render_multiview_pair, render_pair, reproject

__all__ = ["CroCoPairTransform", "MultiViewPair", "ProceduralPairDataset", "render_multiview_pair", "render_pair",
           "reproject"]
