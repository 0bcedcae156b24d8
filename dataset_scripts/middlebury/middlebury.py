"""Middlebury stereo data sets (2005, 2006, 2014, 2021, and the MiddEval3 benchmark) in their official layouts.

Configs and the folder ``data_dir`` must point at:

* ``2014`` (default): the folder holding the ``<Scene>-perfect`` / ``-imperfect`` scenes, each with ``im0.png``,
  ``im1.png`` (plus ``im1E.png`` / ``im1L.png``, the right view under another exposure / lighting) and ``disp0.pfm``.
  One pair per right view found; ``right_view`` says which (``""``, ``"E"``, ``"L"``).
* ``2021``: the ``data/`` folder with ``<scene>/im0.png, im1.png, disp0.pfm`` and the extra exposures
  ``<scene>/ambient/<lighting>/im0e<k>.png, im1e<k>.png`` (one more pair each, ``right_view="ambient/<lighting>/e<k>"``;
  upstream CroCo-Stereo trains on these).
* ``2005`` / ``2006``: the scenes' folders with ``<Scene>/Illum{1,2,3}/Exp{0,1,2}/view1.png, view5.png`` and
  ``<Scene>/disp1.png`` (8-bit disparity of view 1, scale 1 as in upstream CroCo-Stereo, 0 = unknown); one pair per
  illumination × exposure.
* ``eval3_F`` / ``eval3_H`` / ``eval3_Q``: the ``MiddEval3`` folder with ``training{F,H,Q}/<scene>/im0.png, im1.png,
  disp0GT.pfm`` and ``test{F,H,Q}/<scene>/im0.png, im1.png``.

Splits: ``train`` (all scenes with ground truth) and, for MiddEval3, ``test``. PFM values that are infinite or
``<= 0`` are invalid.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from nlv_hf.data.builders import (
    Pair,
    StereoFlowBuilder,
    StereoFlowConfig,
    files_matching,
    pfm_disparity,
    png_disparity,
    reader,
    subdirectories,
)

_CONFIGS = {
    "2014": "Middlebury 2014 (23 scenes with ground truth, im1/im1E/im1L right views)",
    "2021": "Middlebury 2021 mobile (24 scenes)",
    "2005": "Middlebury 2005 (view1/view5 under 3 illuminations x 3 exposures)",
    "2006": "Middlebury 2006 (view1/view5 under 3 illuminations x 3 exposures)",
    "eval3_F": "MiddEval3 benchmark, full resolution",
    "eval3_H": "MiddEval3 benchmark, half resolution",
    "eval3_Q": "MiddEval3 benchmark, quarter resolution",
}


class Middlebury(StereoFlowBuilder):
    BUILDER_CONFIGS = [StereoFlowConfig(name=name, task="stereo", variant=name, description=text)
                       for name, text in _CONFIGS.items()]
    DEFAULT_CONFIG_NAME = "2014"
    VERSION = datasets.Version("1.0.0")
    METADATA = {"scene": datasets.Value("string"), "right_view": datasets.Value("string")}
    LAYOUT = ("2014/2021: <scene>/im0.png, im1.png[, im1E.png, im1L.png], disp0.pfm; 2005/2006: <Scene>/Illum*/Exp*/"
              "view1.png, view5.png + <Scene>/disp1.png; eval3_X: training{X}/<scene>/im0.png, im1.png, disp0GT.pfm "
              "and test{X}/<scene>/im0.png, im1.png")
    HOMEPAGE = "https://vision.middlebury.edu/stereo/data/"
    LICENSE = "research use; see the Middlebury stereo pages for each data set's terms"
    DESCRIPTION = "Middlebury stereo data sets: high-resolution indoor scenes with structured-light ground truth."
    CITATION = ("Scharstein et al. High-resolution stereo datasets with subpixel-accurate ground truth. GCPR 2014. "
                "Hirschmüller, Scharstein. Evaluation of cost functions for stereo matching. CVPR 2007.")

    def list_pairs(self, root: Path) -> dict[str, list[Pair]]:
        variant = self.config.variant
        if variant.startswith("eval3_"):
            resolution = variant[-1]
            splits = {}
            for split, folder in (("train", f"training{resolution}"), ("test", f"test{resolution}")):
                pairs = []
                for scene in subdirectories(root / folder):
                    if not (scene / "im0.png").is_file() or not (scene / "im1.png").is_file():
                        continue
                    gt = scene / "disp0GT.pfm"
                    pairs.append(Pair(id=f"{folder}/{scene.name}", image_1=scene / "im0.png", image_2=scene / "im1.png",
                                      target=gt if gt.is_file() else None, reader=pfm_disparity,
                                      metadata={"scene": scene.name, "right_view": ""}))
                splits[split] = pairs
            return splits
        pairs = []
        for scene in subdirectories(root):
            if variant in ("2014", "2021"):
                if not (scene / "im0.png").is_file():
                    continue
                gt = scene / "disp0.pfm"
                names = [("", "im1.png")] + ([("E", "im1E.png"), ("L", "im1L.png")] if variant == "2014" else [])
                views = [(right_view, scene / "im0.png", scene / name) for right_view, name in names]
                if variant == "2021":  # ambient/<lighting>/im0e<k>.png + im1e<k>.png: more exposures, same geometry
                    for lighting in subdirectories(scene / "ambient"):
                        for left, match in files_matching(lighting, r"im0(e\d+)\.png"):
                            views.append((f"ambient/{lighting.name}/{match.group(1)}", left,
                                          lighting / f"im1{match.group(1)}.png"))
                for right_view, left, right in views:
                    if left.is_file() and right.is_file():
                        name = right.stem if right.parent == scene else right_view
                        pairs.append(Pair(id=f"{scene.name}/{name}", image_1=left, image_2=right,
                                          target=gt if gt.is_file() else None, reader=pfm_disparity,
                                          metadata={"scene": scene.name, "right_view": right_view}))
            else:
                gt = scene / "disp1.png"
                for illumination in subdirectories(scene):
                    for exposure in subdirectories(illumination):
                        left, right = exposure / "view1.png", exposure / "view5.png"
                        if left.is_file() and right.is_file():
                            view = f"{illumination.name}/{exposure.name}"
                            pairs.append(Pair(id=f"{scene.name}/{view}", image_1=left, image_2=right,
                                              target=gt if gt.is_file() else None,
                                              reader=reader(png_disparity, scale=1.0),
                                              metadata={"scene": scene.name, "right_view": view}))
        return {"train": pairs}
