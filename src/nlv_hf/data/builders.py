"""Shared logic of the stereo / optical-flow dataset builders in ``dataset_scripts/``.

Every builder reads one data set in its official on-disk layout from a local ``data_dir`` (datasets 5 has no loading
scripts: import the builder class and call ``download_and_prepare()`` / ``as_dataset()`` or
``as_streaming_dataset()``)::

    from dataset_scripts.kitti.kitti import KITTI           # or importlib on the file path
    builder = KITTI(config_name="2015", data_dir="/data/kitti-stereo-2015")
    builder.download_and_prepare()
    train = builder.as_dataset(split="train").with_format("numpy")

A subclass only lists the pairs of each split (``list_pairs``); this module turns them into examples with the
features below, the same for every data set:

* ``id`` (string, unique in the data set, derived from the file names), ``image_1`` / ``image_2`` (``Image``, RGB;
  left/right for stereo, frame t / frame t±1 for flow; stored as paths into ``data_dir``);
* stereo: ``disparity`` — a float32 image (mode ``F``; numpy format gives ``H×W``);
  flow: ``flow`` — two float32 images ``[u, v]`` (numpy format gives ``2×H×W``, the layout of model labels);
  invalid pixels hold ``+inf`` (the CroCo-Stereo/Flow convention);
* ``valid`` — a bool image (``H×W``); ground truth and ``valid`` are ``None`` where the split has none (test sets);
  (ground truth is stored as float TIFF images because ``datasets`` arrays allow only a dynamic first dimension and
  nested lists decode hundreds of times slower; with ``with_format("torch")`` disparity is ``1×H×W`` and flow
  ``2×1×H×W`` — ``to_model_inputs`` gives the model layout);
* data-set specific metadata (sequence, frame, camera, …) declared in ``METADATA``.

``to_model_inputs`` turns examples into what the procedural datasets of ``nlv_hf.data.stereo_flow`` yield
(``pixel_values``, ``pixel_values_2`` float32 ``3×H×W`` in [0, 1], ``labels`` ``1×H×W`` / ``2×H×W`` with ``+inf`` at
invalid pixels): ``ds.with_transform(to_model_inputs)``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import datasets
import numpy as np
import PIL.Image
import torch

from .formats import (
    invalid_to_inf,
    read_dsp5,
    read_flo,
    read_flo5,
    read_kitti_flow,
    read_pfm,
    read_png_disparity,
)

__all__ = [
    "Pair",
    "StereoFlowBuilder",
    "StereoFlowConfig",
    "dsp5_disparity",
    "files_matching",
    "flo5_flow",
    "flo_flow",
    "kitti_flow",
    "pfm_disparity",
    "pfm_flow",
    "png_disparity",
    "reader",
    "subdirectories",
    "to_model_inputs",
]

TASKS = ("stereo", "flow")


# ------------------------------------------------------------------------------------------ ground-truth readers
# Each returns (array with +inf at invalid pixels, valid mask H×W); flow arrays are H×W×2.

def pfm_disparity(path) -> tuple[np.ndarray, np.ndarray]:
    """PFM disparity (SceneFlow, Middlebury 2014/2021/Eval3, ETH3D): non-finite or ``<= 0`` values are invalid, as
    in upstream CroCo-Stereo."""
    disparity = read_pfm(path)
    if disparity.ndim != 2:
        raise ValueError(f"{path}: a disparity PFM must be single-channel ('Pf'), got shape {disparity.shape}")
    return invalid_to_inf(disparity, np.nan_to_num(disparity, nan=0.0) > 0)


def pfm_flow(path) -> tuple[np.ndarray, np.ndarray]:
    """3-channel PFM flow (FlyingThings3D): the first two channels are ``(u, v)``, the third is zero."""
    data = read_pfm(path)
    if data.ndim != 3:
        raise ValueError(f"{path}: a flow PFM must have 3 channels ('PF'), got shape {data.shape}")
    return invalid_to_inf(data[..., :2])


def png_disparity(path, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Disparity PNG ``value / scale`` with 0 = invalid (KITTI: 256, Middlebury 2005/2006: 1)."""
    return read_png_disparity(path, scale)


def kitti_flow(path) -> tuple[np.ndarray, np.ndarray]:
    """KITTI 16-bit RGB flow PNG."""
    return read_kitti_flow(path)


def flo_flow(path) -> tuple[np.ndarray, np.ndarray]:
    """Middlebury ``.flo`` (Sintel, FlyingChairs); values above 1e9 are "unknown"."""
    return invalid_to_inf(read_flo(path))


def flo5_flow(path) -> tuple[np.ndarray, np.ndarray]:
    """Spring ``.flo5`` (NaN = invalid)."""
    return invalid_to_inf(read_flo5(path))


def dsp5_disparity(path) -> tuple[np.ndarray, np.ndarray]:
    """Spring ``.dsp5`` (NaN = invalid)."""
    return invalid_to_inf(read_dsp5(path))


# ------------------------------------------------------------------------------------------------ file listing

def subdirectories(folder: Path) -> list[Path]:
    """Sorted sub-folders of ``folder`` (empty when it does not exist)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def files_matching(folder: Path, pattern: str) -> list[tuple[Path, re.Match]]:
    """Sorted ``(path, match)`` for the files of ``folder`` whose name fully matches the regex ``pattern``."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    regex = re.compile(pattern)
    found = [(p, regex.fullmatch(p.name)) for p in folder.iterdir() if p.is_file()]
    return sorted((p, m) for p, m in found if m is not None)


# ----------------------------------------------------------------------------------------------------- builder

@dataclass
class Pair:
    """One example: two image files, an optional ground-truth file with its reader, and metadata."""

    id: str
    image_1: Path
    image_2: Path
    target: Path | None = None
    reader: Callable | None = None
    metadata: dict = field(default_factory=dict)


@dataclass
class StereoFlowConfig(datasets.BuilderConfig):
    """``task`` is ``"stereo"`` or ``"flow"``; ``variant`` is the data-set specific choice the config stands for
    (a year, a render pass, a resolution, …)."""

    task: str = "stereo"
    variant: str = ""

    def __post_init__(self):
        super().__post_init__()
        self.check()

    def check(self) -> None:
        """Validate the fields (also called on the builder's copy, after keyword overrides are applied)."""
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")


class StereoFlowBuilder(datasets.GeneratorBasedBuilder):
    """Base class: subclasses set ``BUILDER_CONFIGS``, ``LAYOUT`` (a short description of the expected tree, used in
    error messages), optionally ``METADATA`` (extra features) and implement ``list_pairs(root)``."""

    BUILDER_CONFIG_CLASS = StereoFlowConfig
    METADATA: ClassVar[dict] = {}
    LAYOUT: ClassVar[str] = ""
    HOMEPAGE: ClassVar[str] = ""
    CITATION: ClassVar[str] = ""
    LICENSE: ClassVar[str] = ""
    DESCRIPTION: ClassVar[str] = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config.check()

    def list_pairs(self, root: Path) -> dict[str, list[Pair]]:
        """Map each split name to its pairs, in a stable order."""
        raise NotImplementedError(f"{type(self).__name__} must implement list_pairs(root)")

    # datasets API -----------------------------------------------------------------------------------------
    def _info(self) -> datasets.DatasetInfo:
        features = {"id": datasets.Value("string"), "image_1": datasets.Image(mode="RGB"),
                    "image_2": datasets.Image(mode="RGB")}
        if self.config.task == "stereo":
            features["disparity"] = datasets.Image()
        else:
            features["flow"] = datasets.List(datasets.Image(), length=2)
        features["valid"] = datasets.Image()
        features.update(self.METADATA)
        return datasets.DatasetInfo(description=self.DESCRIPTION, features=datasets.Features(features),
                                    homepage=self.HOMEPAGE, citation=self.CITATION, license=self.LICENSE)

    def _data_root(self) -> Path:
        name = type(self).__name__
        data_dir = self.config.data_dir
        if not data_dir:
            raise ValueError(f"{name} reads a local copy of the data set: pass data_dir=<folder> pointing at "
                             f"the official layout ({self.LAYOUT})")
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise ValueError(f"{name}: data_dir {str(root)!r} is not a folder; expected the official layout "
                             f"({self.LAYOUT})")
        return root

    def _split_generators(self, dl_manager):
        root = self._data_root()
        splits = self.list_pairs(root)
        if not any(splits.values()):
            raise ValueError(f"{type(self).__name__} (config {self.config.name!r}): found no image pairs under "
                             f"{str(root)!r}; expected the official layout ({self.LAYOUT})")
        return [datasets.SplitGenerator(name=name, gen_kwargs={"pairs": pairs})
                for name, pairs in splits.items() if pairs]

    def _generate_examples(self, pairs):
        key = "disparity" if self.config.task == "stereo" else "flow"
        for pair in pairs:
            example = {"id": pair.id, "image_1": str(pair.image_1), "image_2": str(pair.image_2),
                       key: None, "valid": None}
            if pair.target is not None:
                array, valid = pair.reader(pair.target)
                if key == "disparity":
                    example[key] = PIL.Image.fromarray(np.ascontiguousarray(array, dtype=np.float32))
                else:
                    example[key] = [PIL.Image.fromarray(np.ascontiguousarray(array[..., c], dtype=np.float32))
                                    for c in range(2)]
                example["valid"] = PIL.Image.fromarray(np.asarray(valid, dtype=bool))
            example.update(pair.metadata)
            yield pair.id, example


def reader(function: Callable, **kwargs) -> Callable:
    """A picklable ground-truth reader with bound keyword arguments (for example ``png_disparity, scale=256``)."""
    return functools.partial(function, **kwargs) if kwargs else function


def _image_tensor(image) -> torch.Tensor:
    array = np.asarray(image.convert("RGB") if isinstance(image, PIL.Image.Image) else image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected an RGB image (PIL, or uint8 H×W×3), got {type(image).__name__} "
                         f"{getattr(array, 'shape', '')} {getattr(array, 'dtype', '')}")
    return torch.from_numpy(np.array(array, dtype=np.float32)).permute(2, 0, 1) / 255.0


def _label_tensor(target, valid) -> torch.Tensor | None:
    if target is None:
        return None
    if isinstance(target, (list, tuple)):  # python format: one mode-F image per flow component
        label = np.stack([np.asarray(t, dtype=np.float32) for t in target])
    else:
        label = np.asarray(target, dtype=np.float32)
    label = torch.from_numpy(np.array(label, dtype=np.float32))
    if label.ndim == 2:  # disparity H×W
        label = label[None]
    elif label.ndim == 4 and label.shape[1] == 1:  # flow 2×1×H×W from the torch format
        label = label[:, 0]
    if valid is not None:
        mask = torch.from_numpy(np.array(valid, dtype=bool)).reshape(label.shape[-2:])
        label = label.masked_fill(~mask, float("inf"))
    return label


def to_model_inputs(examples: dict) -> dict:
    """Convert one example or a batch (dict of lists, as ``with_transform`` passes it) of a stereo/flow builder into
    ``pixel_values``, ``pixel_values_2`` (float32 ``3×H×W`` in [0, 1], not normalised) and ``labels`` (disparity
    ``1×H×W`` or flow ``2×H×W``, ``+inf`` where invalid; ``None`` for examples without ground truth) plus ``id``."""
    key = "disparity" if "disparity" in examples else "flow" if "flow" in examples else None
    if key is None or "image_1" not in examples or "image_2" not in examples:
        raise ValueError(f"expected a stereo/flow example with image_1, image_2 and disparity or flow; got keys "
                         f"{sorted(examples)}")
    batched = isinstance(examples["id"], list)
    rows = zip(*(examples[k] for k in ("id", "image_1", "image_2", key, "valid"))) if batched else \
        [tuple(examples[k] for k in ("id", "image_1", "image_2", key, "valid"))]
    out = {"id": [], "pixel_values": [], "pixel_values_2": [], "labels": []}
    for example_id, image_1, image_2, target, valid in rows:
        out["id"].append(example_id)
        out["pixel_values"].append(_image_tensor(image_1))
        out["pixel_values_2"].append(_image_tensor(image_2))
        out["labels"].append(_label_tensor(target, valid))
    return out if batched else {k: v[0] for k, v in out.items()}
