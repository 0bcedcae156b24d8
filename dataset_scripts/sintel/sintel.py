"""MPI-Sintel optical flow in its official layout (``MPI-Sintel-complete``).

``data_dir`` holds ``training/{clean,final}/<scene>/frame_NNNN.png``, ``training/flow/<scene>/frame_NNNN.flo``
and ``test/{clean,final}/<scene>/frame_NNNN.png``. Configs: ``clean`` (default) and ``final`` render passes
(concatenate both for upstream's ``allpass``). Splits: ``train`` (1,041 pairs, flow of frame i → i+1) and ``test``
(552 pairs, no ground truth). Upstream CroCo-Flow validates on scenes ``temple_2`` and ``temple_3`` (filter on
``scene``).
"""

from __future__ import annotations

from pathlib import Path

import datasets

from nlv_hf.data.builders import Pair, StereoFlowBuilder, StereoFlowConfig, files_matching, flo_flow, subdirectories


class Sintel(StereoFlowBuilder):
    BUILDER_CONFIGS = [StereoFlowConfig(name=p, task="flow", variant=p, description=f"MPI-Sintel flow, {p} pass")
                       for p in ("clean", "final")]
    DEFAULT_CONFIG_NAME = "clean"
    VERSION = datasets.Version("1.0.0")
    METADATA = {"scene": datasets.Value("string"), "frame": datasets.Value("int32")}
    LAYOUT = "training/{clean,final}/<scene>/frame_NNNN.png, training/flow/<scene>/frame_NNNN.flo, test/{clean,final}/..."
    HOMEPAGE = "http://sintel.is.tue.mpg.de/"
    LICENSE = "see http://sintel.is.tue.mpg.de/ (research use; the film is CC BY 3.0, Blender Foundation)"
    DESCRIPTION = "MPI-Sintel optical flow benchmark, rendered from the open film Sintel."
    CITATION = "Butler et al. A naturalistic open source movie for optical flow evaluation. ECCV 2012."

    def list_pairs(self, root: Path) -> dict[str, list[Pair]]:
        render = self.config.variant
        splits = {}
        for split, folder in (("train", "training"), ("test", "test")):
            pairs = []
            for scene in subdirectories(root / folder / render):
                frames = {int(m.group(1)): path for path, m in files_matching(scene, r"frame_(\d{4})\.png")}
                for index in sorted(frames):
                    if index + 1 not in frames:
                        continue
                    gt = root / folder / "flow" / scene.name / f"frame_{index:04d}.flo"
                    pairs.append(Pair(id=f"{folder}/{render}/{scene.name}/frame_{index:04d}", image_1=frames[index],
                                      image_2=frames[index + 1], target=gt if gt.is_file() else None, reader=flo_flow,
                                      metadata={"scene": scene.name, "frame": index}))
            splits[split] = pairs
        return splits
