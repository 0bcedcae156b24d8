"""ETH3D low-res two-view stereo benchmark in its official layout.

``data_dir`` holds the extracted archives ``two_view_training/<scene>/{im0,im1}.png``,
``two_view_training_gt/<scene>/disp0GT.pfm`` (``inf`` = unknown) and ``two_view_test/<scene>/{im0,im1}.png``.
The renamed layout used by upstream CroCo-Stereo (``train/``, ``train_gt/``, ``test/``) is accepted too.
Splits: ``train`` (27 scenes, with ground truth) and ``test`` (20 scenes, without).
"""

from __future__ import annotations

from pathlib import Path

import datasets

from nlv_hf.data.builders import Pair, StereoFlowBuilder, StereoFlowConfig, pfm_disparity, subdirectories

_FOLDERS = {"train": (("two_view_training", "two_view_training_gt"), ("train", "train_gt")),
            "test": (("two_view_test", None), ("test", None))}


class ETH3D(StereoFlowBuilder):
    BUILDER_CONFIGS = [StereoFlowConfig(name="two_view", task="stereo", variant="low_res",
                                        description="ETH3D low-res two-view stereo (grayscale, rectified)")]
    DEFAULT_CONFIG_NAME = "two_view"
    VERSION = datasets.Version("1.0.0")
    METADATA = {"scene": datasets.Value("string")}
    LAYOUT = ("two_view_training/<scene>/{im0,im1}.png, two_view_training_gt/<scene>/disp0GT.pfm, "
              "two_view_test/<scene>/{im0,im1}.png")
    HOMEPAGE = "https://www.eth3d.net/datasets"
    LICENSE = "CC BY-NC-SA 4.0"
    DESCRIPTION = "ETH3D two-view stereo: indoor and outdoor scenes with laser-scanner ground truth."
    CITATION = "Schöps et al. A multi-view stereo benchmark with high-resolution images and multi-camera videos. CVPR 2017."

    def list_pairs(self, root: Path) -> dict[str, list[Pair]]:
        splits = {}
        for split, layouts in _FOLDERS.items():
            images, gt_folder = next(((i, g) for i, g in layouts if (root / i).is_dir()), layouts[0])
            pairs = []
            for scene in subdirectories(root / images):
                if not ((scene / "im0.png").is_file() and (scene / "im1.png").is_file()):
                    continue
                gt = root / gt_folder / scene.name / "disp0GT.pfm" if gt_folder else None
                pairs.append(Pair(id=f"{split}/{scene.name}", image_1=scene / "im0.png", image_2=scene / "im1.png",
                                  target=gt if gt is not None and gt.is_file() else None, reader=pfm_disparity,
                                  metadata={"scene": scene.name}))
            splits[split] = pairs
        return splits
