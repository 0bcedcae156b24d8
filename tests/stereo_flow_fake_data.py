"""Tiny stereo/flow data sets in official on-disk layouts, written from procedural pairs (exact ground truth)."""

from pathlib import Path

import numpy as np
import PIL.Image

from nlv_hf.data import formats
from nlv_hf.data.stereo_flow import make_stereo_pair


def write_middlebury_2014(root: Path, num_scenes: int = 2, height: int = 40, width: int = 80) -> Path:
    """``<root>/<Scene>-perfect/{im0.png, im1.png, disp0.pfm}``; the first row of each disparity map is invalid
    (``inf``, as Middlebury marks unknown disparities). Returns ``root``."""
    for i in range(num_scenes):
        pair = make_stereo_pair(height, width, seed=100 + i, max_disparity=8)
        scene = Path(root) / f"Scene{i}-perfect"
        scene.mkdir(parents=True)
        for name, image in (("im0.png", pair["image_1"]), ("im1.png", pair["image_2"])):
            PIL.Image.fromarray(np.round(image * 255).astype(np.uint8)).save(scene / name)
        disparity = pair["disparity"].copy()
        disparity[0] = np.inf
        formats.write_pfm(scene / "disp0.pfm", disparity)
    return Path(root)
