"""Data: procedural generators, pair augmentations and dataset builders shared by tests, demos and training."""

from .augment import CroCoPairTransform
from .multiview import MultiViewPair, ProceduralPairDataset, render_multiview_pair, render_pair, reproject

__all__ = ["CroCoPairTransform", "MultiViewPair", "ProceduralPairDataset", "render_multiview_pair", "render_pair",
           "reproject"]
