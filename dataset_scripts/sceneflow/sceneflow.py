"""SceneFlow stereo (FlyingThings3D, Monkaa, Driving) in the official Freiburg layout.

``data_dir`` holds the subsets as extracted from the official archives::

    FlyingThings3D/frames_{cleanpass,finalpass}/{TRAIN,TEST}/{A,B,C}/NNNN/{left,right}/NNNN.png
    FlyingThings3D/disparity/{TRAIN,TEST}/{A,B,C}/NNNN/left/NNNN.pfm
    Monkaa/frames_{cleanpass,finalpass}/<scene>/{left,right}/NNNN.png,  Monkaa/disparity/<scene>/left/NNNN.pfm
    Driving/frames_{cleanpass,finalpass}/<focal>/<direction>/<speed>/{left,right}/NNNN.png,  Driving/disparity/...

(``FlyingThings`` is accepted for ``FlyingThings3D``, as upstream CroCo-Stereo names it.) Configs: ``cleanpass``
(default) and ``finalpass``; concatenate both for upstream's ``allpass``. Splits: ``train`` (Driving + Monkaa +
FlyingThings3D TRAIN, 35,454 pairs) and ``test`` (FlyingThings3D TEST, 4,370 pairs). Subsets that are absent are
skipped.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from nlv_hf.data.builders import Pair, StereoFlowBuilder, StereoFlowConfig, pfm_disparity

_SUBSETS = (("Driving", ("Driving",)), ("Monkaa", ("Monkaa",)), ("FlyingThings3D", ("FlyingThings3D", "FlyingThings")))


class SceneFlow(StereoFlowBuilder):
    BUILDER_CONFIGS = [StereoFlowConfig(name=p, task="stereo", variant=p, description=f"SceneFlow stereo, {p} renders")
                       for p in ("cleanpass", "finalpass")]
    DEFAULT_CONFIG_NAME = "cleanpass"
    VERSION = datasets.Version("1.0.0")
    METADATA = {"subset": datasets.Value("string")}
    LAYOUT = ("{FlyingThings3D,Monkaa,Driving}/frames_<pass>/**/left/NNNN.png with .../right/ and "
              "<subset>/disparity/**/left/NNNN.pfm")
    HOMEPAGE = "https://lmb.informatik.uni-freiburg.de/resources/datasets/SceneFlowDatasets.en.html"
    LICENSE = "research use only; see the Freiburg SceneFlow terms"
    DESCRIPTION = "SceneFlow synthetic stereo: FlyingThings3D, Monkaa and Driving with dense disparity."
    CITATION = ("Mayer et al. A large dataset to train convolutional networks for disparity, optical flow, and scene "
                "flow estimation. CVPR 2016.")

    def list_pairs(self, root: Path) -> dict[str, list[Pair]]:
        frames = f"frames_{self.config.variant}"
        splits = {"train": [], "test": []}
        for subset, names in _SUBSETS:
            base = next((root / n for n in names if (root / n).is_dir()), None)
            if base is None:
                continue
            for left in sorted((base / frames).glob("**/left/*.png")):
                relative = left.relative_to(base / frames)
                right = left.parent.parent / "right" / left.name
                if not right.is_file():
                    continue
                gt = (base / "disparity" / relative).with_suffix(".pfm")
                split = "test" if subset == "FlyingThings3D" and relative.parts[0] == "TEST" else "train"
                splits[split].append(Pair(id=f"{subset}/{relative.with_suffix('').as_posix()}", image_1=left,
                                          image_2=right, target=gt if gt.is_file() else None, reader=pfm_disparity,
                                          metadata={"subset": subset}))
        return splits
