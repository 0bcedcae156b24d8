"""FlyingChairs optical flow in its official layout.

``data_dir`` is the extracted ``FlyingChairs_release`` folder: ``data/NNNNN_img1.ppm``, ``data/NNNNN_img2.ppm``,
``data/NNNNN_flow.flo`` (a ``data_dir`` that directly holds these files works too) and, optionally, the official
split file ``FlyingChairs_train_val.txt`` (one line per pair in order: ``1`` = train, ``2`` = validation;
upstream CroCo-Flow calls it ``chairs_split.txt``, also accepted). With the split file: ``train`` (22,232 pairs)
and ``validation`` (640); without it every pair is in ``train``.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from nlv_hf.data.builders import Pair, StereoFlowBuilder, StereoFlowConfig, files_matching, flo_flow

_SPLIT_FILES = ("FlyingChairs_train_val.txt", "chairs_split.txt")


class FlyingChairs(StereoFlowBuilder):
    BUILDER_CONFIGS = [StereoFlowConfig(name="default", task="flow", variant="release",
                                        description="FlyingChairs (22,872 pairs, 512x384)")]
    DEFAULT_CONFIG_NAME = "default"
    VERSION = datasets.Version("1.0.0")
    METADATA = {"index": datasets.Value("int32")}
    LAYOUT = "data/NNNNN_img1.ppm, data/NNNNN_img2.ppm, data/NNNNN_flow.flo [+ FlyingChairs_train_val.txt]"
    HOMEPAGE = "https://lmb.informatik.uni-freiburg.de/resources/datasets/FlyingChairs.en.html"
    LICENSE = "research use only; see the Freiburg FlyingChairs terms"
    DESCRIPTION = "FlyingChairs: synthetic chairs moving over Flickr backgrounds, with dense optical flow."
    CITATION = "Dosovitskiy et al. FlowNet: learning optical flow with convolutional networks. ICCV 2015."

    def list_pairs(self, root: Path) -> dict[str, list[Pair]]:
        folder = root / "data" if (root / "data").is_dir() else root
        pairs = []
        for image_1, match in files_matching(folder, r"(\d{5})_img1\.ppm"):
            image_2 = folder / f"{match.group(1)}_img2.ppm"
            gt = folder / f"{match.group(1)}_flow.flo"
            if image_2.is_file():
                pairs.append(Pair(id=match.group(1), image_1=image_1, image_2=image_2,
                                  target=gt if gt.is_file() else None, reader=flo_flow,
                                  metadata={"index": int(match.group(1))}))
        split_file = next((root / n for n in _SPLIT_FILES if (root / n).is_file()), None)
        if split_file is None:
            return {"train": pairs}
        labels = split_file.read_text().split()
        if len(labels) < max((p.metadata["index"] for p in pairs), default=0) or set(labels) - {"1", "2"}:
            raise ValueError(f"{split_file}: expected one label (1 = train, 2 = validation) per pair, for pairs "
                             f"00001..{len(pairs):05d}; found {len(labels)} labels with values {sorted(set(labels))}")
        return {"train": [p for p in pairs if labels[p.metadata["index"] - 1] == "1"],
                "validation": [p for p in pairs if labels[p.metadata["index"] - 1] == "2"]}
