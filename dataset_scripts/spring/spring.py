"""Spring (high-resolution stereo and scene-flow benchmark) in its official layout.

``data_dir`` holds ``train/<seq>/`` with ``frame_{left,right}/frame_{left,right}_NNNN.png``,
``flow_{FW,BW}_{left,right}/flow_{FW,BW}_{left,right}_NNNN.flo5`` and
``disp1_{left,right}/disp1_{left,right}_NNNN.dsp5``,
and ``test/<seq>/frame_{left,right}/``. The ground truth is stored at **twice** the image resolution (upstream
CroCo evaluates with the min over the 4 sub-pixels); NaN marks invalid pixels and becomes ``+inf`` here. Reading it
needs ``h5py``.

Configs:

* ``flow`` (default): forward (frame i → i+1, ``flow_FW``) and backward (i → i-1, ``flow_BW``) pairs of both
  cameras; train pairs follow the flow files present (19,852), test pairs the frames (3,960).
* ``stereo``: left/right pairs of each frame with ``disp1_left`` (5,000 train, 1,000 test).
"""

from __future__ import annotations

from pathlib import Path

import datasets

from nlv_hf.data.builders import (
    Pair,
    StereoFlowBuilder,
    StereoFlowConfig,
    dsp5_disparity,
    files_matching,
    flo5_flow,
    subdirectories,
)


class Spring(StereoFlowBuilder):
    BUILDER_CONFIGS = [StereoFlowConfig(name="flow", task="flow", variant="flow", description="Spring optical flow"),
                       StereoFlowConfig(name="stereo", task="stereo", variant="stereo", description="Spring stereo")]
    DEFAULT_CONFIG_NAME = "flow"
    VERSION = datasets.Version("1.0.0")
    METADATA = {"sequence": datasets.Value("string"), "frame": datasets.Value("int32"),
                "camera": datasets.Value("string"), "direction": datasets.Value("string")}
    LAYOUT = ("{train,test}/<seq>/frame_{left,right}/frame_<cam>_NNNN.png, train/<seq>/flow_{FW,BW}_<cam>/"
              "flow_<dir>_<cam>_NNNN.flo5, train/<seq>/disp1_<cam>/disp1_<cam>_NNNN.dsp5")
    HOMEPAGE = "https://spring-benchmark.org/"
    LICENSE = "CC BY 4.0"
    DESCRIPTION = "Spring: a high-resolution, high-detail benchmark for scene flow, optical flow and stereo."
    CITATION = ("Mehl et al. Spring: a high-resolution high-detail dataset and benchmark for scene flow, optical flow "
                "and stereo. CVPR 2023.")

    def list_pairs(self, root: Path) -> dict[str, list[Pair]]:
        splits = {}
        for split in ("train", "test"):
            pairs = []
            for sequence in subdirectories(root / split):
                frames = {camera: {int(m.group(1)): path for path, m in
                                   files_matching(sequence / f"frame_{camera}", rf"frame_{camera}_(\d{{4}})\.png")}
                          for camera in ("left", "right")}
                if self.config.task == "stereo":
                    for index in sorted(frames["left"]):
                        if index not in frames["right"]:
                            continue
                        gt = sequence / "disp1_left" / f"disp1_left_{index:04d}.dsp5"
                        pairs.append(Pair(id=f"{split}/{sequence.name}/left/{index:04d}", image_1=frames["left"][index],
                                          image_2=frames["right"][index], target=gt if gt.is_file() else None,
                                          reader=dsp5_disparity, metadata={"sequence": sequence.name, "frame": index,
                                                                           "camera": "left", "direction": ""}))
                    continue
                for camera in ("left", "right"):
                    for direction, step in (("FW", 1), ("BW", -1)):
                        flows = dict((int(m.group(1)), p) for p, m in files_matching(
                            sequence / f"flow_{direction}_{camera}", rf"flow_{direction}_{camera}_(\d{{4}})\.flo5"))
                        indices = sorted(flows) if split == "train" else sorted(frames[camera])
                        for index in indices:
                            if index not in frames[camera] or index + step not in frames[camera]:
                                continue
                            pairs.append(Pair(id=f"{split}/{sequence.name}/{direction}_{camera}/{index:04d}",
                                              image_1=frames[camera][index], image_2=frames[camera][index + step],
                                              target=flows.get(index), reader=flo5_flow,
                                              metadata={"sequence": sequence.name, "frame": index, "camera": camera,
                                                        "direction": direction}))
            splits[split] = pairs
        return splits
