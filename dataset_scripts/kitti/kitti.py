"""KITTI stereo / flow 2012 and 2015 in their official layout (one builder, four configs).

Configs: ``2012`` and ``2015`` (stereo: left/right at frame 10 with ``disp_occ``), ``2012_flow`` and ``2015_flow``
(flow: frame 10 → 11 of the left camera with ``flow_occ``). ``ground_truth="noc"`` selects the non-occluded maps
(``disp_noc*`` / ``flow_noc``) instead. Splits: ``train`` (``training/``, with ground truth) and ``test``
(``testing/``, without). Disparity PNGs store ``256·d`` and flow PNGs ``64·u + 2¹⁵``; 0 / blue 0 mark invalid
pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import datasets

from nlv_hf.data.builders import (
    Pair,
    StereoFlowBuilder,
    StereoFlowConfig,
    files_matching,
    kitti_flow,
    png_disparity,
    reader,
)

# year -> (left camera folder, right camera folder, disparity folder stem)
_FOLDERS = {"2012": ("colored_0", "colored_1", "disp_{}"), "2015": ("image_2", "image_3", "disp_{}_0")}


@dataclass
class KittiConfig(StereoFlowConfig):
    ground_truth: str = "occ"

    def check(self) -> None:
        super().check()
        if self.ground_truth not in ("occ", "noc"):
            raise ValueError(f"ground_truth must be 'occ' (all pixels) or 'noc' (non-occluded), "
                             f"got {self.ground_truth!r}")


class KITTI(StereoFlowBuilder):
    BUILDER_CONFIG_CLASS = KittiConfig
    BUILDER_CONFIGS = [
        KittiConfig(name="2012", task="stereo", variant="2012", description="KITTI 2012 stereo (disp_occ)"),
        KittiConfig(name="2015", task="stereo", variant="2015", description="KITTI 2015 stereo (disp_occ_0)"),
        KittiConfig(name="2012_flow", task="flow", variant="2012", description="KITTI 2012 flow (flow_occ)"),
        KittiConfig(name="2015_flow", task="flow", variant="2015", description="KITTI 2015 flow (flow_occ)"),
    ]
    DEFAULT_CONFIG_NAME = "2015"
    VERSION = datasets.Version("1.0.0")
    METADATA = {"frame": datasets.Value("string")}
    LAYOUT = ("2012: training/{colored_0,colored_1,disp_occ,disp_noc,flow_occ,flow_noc}/NNNNNN_10.png (+ colored_0/"
              "NNNNNN_11.png), testing/{colored_0,colored_1}; 2015: training/{image_2,image_3,disp_occ_0,disp_noc_0,"
              "flow_occ,flow_noc}/NNNNNN_10.png (+ image_2/NNNNNN_11.png), testing/{image_2,image_3}")
    HOMEPAGE = "https://www.cvlibs.net/datasets/kitti/"
    LICENSE = "CC BY-NC-SA 3.0"
    DESCRIPTION = "KITTI 2012 / 2015 stereo and optical-flow benchmarks (driving scenes, sparse LiDAR-based ground truth)."
    CITATION = ("Geiger, Lenz, Urtasun. Are we ready for autonomous driving? The KITTI vision benchmark suite. CVPR 2012. "
                "Menze, Geiger. Object scene flow for autonomous vehicles. CVPR 2015.")

    def list_pairs(self, root: Path) -> dict[str, list[Pair]]:
        left, right, disparity = _FOLDERS[self.config.variant]
        gt = self.config.ground_truth
        splits = {}
        for split, folder in (("train", "training"), ("test", "testing")):
            base = root / folder
            pairs = []
            for image_1, match in files_matching(base / left, r"(\d{6})_10\.png"):
                frame = match.group(1)
                stereo = self.config.task == "stereo"
                image_2 = base / right / image_1.name if stereo else base / left / f"{frame}_11.png"
                if not image_2.is_file():
                    continue
                if self.config.task == "stereo":
                    target, read = base / disparity.format(gt) / image_1.name, reader(png_disparity, scale=256.0)
                else:
                    target, read = base / f"flow_{gt}" / image_1.name, kitti_flow
                pairs.append(Pair(id=f"{folder}/{frame}", image_1=image_1, image_2=image_2,
                                  target=target if split == "train" and target.is_file() else None, reader=read,
                                  metadata={"frame": frame}))
            splits[split] = pairs
        return splits
