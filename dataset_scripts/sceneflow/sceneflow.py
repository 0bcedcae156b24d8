"""SceneFlow (FlyingThings3D, Monkaa, Driving) stereo, and FlyingThings3D optical flow, in the official Freiburg layout.

``data_dir`` holds the subsets as extracted from the official archives::

    FlyingThings3D/frames_{cleanpass,finalpass}/{TRAIN,TEST}/{A,B,C}/NNNN/{left,right}/NNNN.png
    FlyingThings3D/disparity/{TRAIN,TEST}/{A,B,C}/NNNN/left/NNNN.pfm
    FlyingThings3D/optical_flow/{TRAIN,TEST}/{A,B,C}/NNNN/into_{future,past}/{left,right}/
        OpticalFlowInto{Future,Past}_NNNN_{L,R}.pfm
    Monkaa/frames_{cleanpass,finalpass}/<scene>/{left,right}/NNNN.png,  Monkaa/disparity/<scene>/left/NNNN.pfm
    Driving/frames_{cleanpass,finalpass}/<focal>/<direction>/<speed>/{left,right}/NNNN.png,  Driving/disparity/...

(``FlyingThings`` is accepted for ``FlyingThings3D``, as upstream CroCo names it.) Absent subsets are skipped.

Configs:

* ``cleanpass`` (default) / ``finalpass``: stereo. ``train`` = Driving + Monkaa + FlyingThings3D TRAIN (35,454 pairs),
  ``test`` = FlyingThings3D TEST (4,370). Concatenate both passes for upstream's ``allpass``.
* ``flow_cleanpass`` / ``flow_finalpass``: FlyingThings3D optical flow, forward (frame i → i+1, ``into_future``)
  and backward (i → i-1, ``into_past``) pairs of both cameras, one per flow file whose second frame exists
  (``TRAIN`` → ``train``, ``TEST`` → ``test``).
"""

from __future__ import annotations

from pathlib import Path

import datasets

from nlv_hf.data.builders import Pair, StereoFlowBuilder, StereoFlowConfig, files_matching, pfm_disparity, pfm_flow

_SUBSETS = (("Driving", ("Driving",)), ("Monkaa", ("Monkaa",)), ("FlyingThings3D", ("FlyingThings3D", "FlyingThings")))
_FLOW_NAME = r"OpticalFlowInto(Future|Past)_(\d{4})_([LR])\.pfm"


class SceneFlow(StereoFlowBuilder):
    BUILDER_CONFIGS = [StereoFlowConfig(name=p, task="stereo", variant=p, description=f"SceneFlow stereo, {p} renders")
                       for p in ("cleanpass", "finalpass")] + [
                      StereoFlowConfig(name=f"flow_{p}", task="flow", variant=p,
                                       description=f"FlyingThings3D optical flow, {p} renders")
                      for p in ("cleanpass", "finalpass")]
    DEFAULT_CONFIG_NAME = "cleanpass"
    VERSION = datasets.Version("1.0.0")
    METADATA = {"subset": datasets.Value("string"), "camera": datasets.Value("string"),
                "direction": datasets.Value("string")}
    LAYOUT = ("{FlyingThings3D,Monkaa,Driving}/frames_<pass>/**/{left,right}/NNNN.png with <subset>/disparity/**/left/"
              "NNNN.pfm (stereo) or FlyingThings3D/optical_flow/**/into_{future,past}/{left,right}/*.pfm (flow)")
    HOMEPAGE = "https://lmb.informatik.uni-freiburg.de/resources/datasets/SceneFlowDatasets.en.html"
    LICENSE = "research use only; see the Freiburg SceneFlow terms"
    DESCRIPTION = "SceneFlow synthetic data: FlyingThings3D, Monkaa and Driving with dense disparity and optical flow."
    CITATION = ("Mayer et al. A large dataset to train convolutional networks for disparity, optical flow, and scene "
                "flow estimation. CVPR 2016.")

    def list_pairs(self, root: Path) -> dict[str, list[Pair]]:
        frames = f"frames_{self.config.variant}"
        if self.config.task == "flow":
            return self._flow_pairs(root, frames)
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
                                          metadata={"subset": subset, "camera": "left", "direction": ""}))
        return splits

    def _flow_pairs(self, root: Path, frames: str) -> dict[str, list[Pair]]:
        base = next((root / n for n in _SUBSETS[2][1] if (root / n).is_dir()), root / _SUBSETS[2][1][0])
        splits = {"train": [], "test": []}
        for folder in sorted((base / "optical_flow").glob("*/*/*/into_*/*")):  # {TRAIN,TEST}/X/NNNN/into_*/camera
            set_, letter, sequence, _, camera = folder.relative_to(base / "optical_flow").parts
            if set_ not in ("TRAIN", "TEST") or camera not in ("left", "right"):
                continue
            images = base / frames / set_ / letter / sequence / camera
            for path, match in files_matching(folder, _FLOW_NAME):
                direction, index = ("FW", 1) if match.group(1) == "Future" else ("BW", -1), int(match.group(2))
                image_1, image_2 = images / f"{index:04d}.png", images / f"{index + direction[1]:04d}.png"
                if not (image_1.is_file() and image_2.is_file()):
                    continue
                splits["train" if set_ == "TRAIN" else "test"].append(Pair(
                    id=f"FlyingThings3D/{set_}/{letter}/{sequence}/{direction[0]}_{camera}/{index:04d}",
                    image_1=image_1, image_2=image_2, target=path, reader=pfm_flow,
                    metadata={"subset": "FlyingThings3D", "camera": camera, "direction": direction[0]}))
        return splits
