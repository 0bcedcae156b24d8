"""Multi-HMR training annotations: a ``datasets`` builder for the formats upstream trains on, and the transform that
turns an example into the people record of the ``multi-hmr`` recipe.

Accepted layouts of ``data_dir`` (upstream ``datasets/bedlam.py``), split folder names ``training`` / ``validation``:

* ``bedlam_npz`` -- the official BEDLAM annotations: ``all_npz_12_{split}/{sequence}.npz`` with one row per person
  (``imgname``, ``pose_cam`` (165 = root 3, body 63, jaw 3, left eye 3, right eye 3, left hand 45, right hand 45,
  axis-angle in the camera frame), ``shape`` (11 betas), ``cam_int`` (3, 3), ``cam_ext`` (4, 4), ``trans_cam`` (3)),
  and the images at ``{split}/{sequence}/png/{imgname}``. The SMPL-X translation is ``trans_cam + cam_ext[:3, 3]``
  (upstream). Images whose path contains ``closeup`` are stored rotated and are turned by -90 degrees (upstream).
* ``multihmr_pickle`` -- upstream's preprocessed annotation files ``bedlam_{split}.pkl`` (or any ``*_{split}.pkl``)
  in ``data_dir`` or ``data_dir/annotations``: ``{image path relative to {split}/: {"focal": (2,), "princpt": (2,),
  "size": (W, H), "humans": [{"smplx_root_pose" (1, 3), "smplx_body_pose" (21, 3), "smplx_jaw_pose",
  "smplx_leye_pose", "smplx_reye_pose" (1, 3), "smplx_left_hand_pose", "smplx_right_hand_pose" (15, 3),
  "smplx_shape" (11,), "smplx_transl" (3,)}, ...]}}``.
* ``auto`` picks ``bedlam_npz`` when an ``all_npz_12_*`` folder exists, else ``multihmr_pickle``.

Every example has: ``id``, ``image`` (stored as a path), ``rotation`` (degrees to turn the image by, 0 or -90),
``focal`` (2,), ``principal_point`` (2,), ``smplx_pose`` (P, 165) in the BEDLAM ``pose_cam`` order, ``smplx_shape``
(P, 11), ``smplx_transl`` (P, 3). :class:`SMPLXPeopleTransform` runs the licensed SMPL-X model on them.

Pickle files are only read from a ``data_dir`` you point to: unpickling runs code from the file, so only use
annotation files you trust (upstream's own files, or ones you built).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import PIL.Image
import torch

__all__ = ["FORMATS", "MultiHMRPeople", "MultiHMRPeopleConfig", "SMPLXPeopleTransform", "find_examples"]

FORMATS = ("auto", "bedlam_npz", "multihmr_pickle")
SPLITS = {"training": datasets.Split.TRAIN, "validation": datasets.Split.VALIDATION}
_HUMAN_KEYS = ("smplx_root_pose", "smplx_body_pose", "smplx_jaw_pose", "smplx_leye_pose", "smplx_reye_pose",
               "smplx_left_hand_pose", "smplx_right_hand_pose")


def _detect_format(data_dir: Path) -> str:
    if any(data_dir.glob("all_npz_12_*")):
        return "bedlam_npz"
    if any(data_dir.glob("*.pkl")) or any(data_dir.glob("annotations/*.pkl")):
        return "multihmr_pickle"
    raise ValueError(f"{data_dir} holds no Multi-HMR annotations: expected all_npz_12_{{training,validation}}/*.npz "
                     "(BEDLAM) or *_{training,validation}.pkl (upstream preprocessed)")


def _bedlam_examples(data_dir: Path, split: str):
    folder = data_dir / f"all_npz_12_{split}"
    for npz in sorted(folder.glob("*.npz")):
        annot = np.load(npz, allow_pickle=False)
        missing = [k for k in ("imgname", "pose_cam", "shape", "cam_int", "cam_ext", "trans_cam") if k not in annot]
        if missing:
            raise ValueError(f"{npz} lacks the BEDLAM keys {missing}")
        names = annot["imgname"].astype(str)
        for name in sorted(set(names.tolist())):
            rel = Path(npz.stem) / "png" / name
            path = data_dir / split / rel
            if not path.is_file():  # upstream skips annotations without their image
                continue
            rows = np.nonzero(names == name)[0]
            k = annot["cam_int"][rows[0]]
            transl = annot["trans_cam"][rows] + annot["cam_ext"][rows][:, :3, 3]
            yield str(rel), {
                "id": str(rel), "image": str(path), "rotation": -90 if "closeup" in str(rel) else 0,
                "focal": [float(k[0, 0]), float(k[1, 1])], "principal_point": [float(k[0, 2]), float(k[1, 2])],
                "smplx_pose": annot["pose_cam"][rows].astype(np.float32),
                "smplx_shape": annot["shape"][rows][:, :11].astype(np.float32),
                "smplx_transl": transl.astype(np.float32),
            }


def _pickle_examples(data_dir: Path, split: str):
    files = sorted(data_dir.glob(f"*_{split}.pkl")) + sorted(data_dir.glob(f"annotations/*_{split}.pkl"))
    for file in files:
        with open(file, "rb") as f:
            annots = pickle.load(f)  # noqa: S301 - a local file the user points to (see the module docstring)
        if not isinstance(annots, dict):
            raise ValueError(f"{file} must hold a dict {{image path: annotation}}, got {type(annots).__name__}")
        for rel in sorted(annots):
            annot = annots[rel]
            path = data_dir / split / rel
            if not path.is_file():
                continue
            humans = annot.get("humans", [])
            for h in humans:
                missing = [k for k in (*_HUMAN_KEYS, "smplx_shape", "smplx_transl") if k not in h]
                if missing:
                    raise ValueError(f"{file}: a person of {rel} lacks {missing}")
            pose = np.stack([np.concatenate([np.asarray(h[k], np.float32).reshape(-1) for k in _HUMAN_KEYS])
                             for h in humans]) if humans else np.zeros((0, 165), np.float32)
            shape = np.stack([np.asarray(h["smplx_shape"], np.float32).reshape(-1)[:11] for h in humans]) \
                if humans else np.zeros((0, 11), np.float32)
            transl = np.stack([np.asarray(h["smplx_transl"], np.float32).reshape(3) for h in humans]) \
                if humans else np.zeros((0, 3), np.float32)
            if pose.shape[1] != 165:
                raise ValueError(f"{file}: SMPL-X poses of {rel} have {pose.shape[1]} numbers, expected 165")
            yield str(rel), {
                "id": str(rel), "image": str(path), "rotation": -90 if "closeup" in str(rel) else 0,
                "focal": [float(v) for v in np.asarray(annot["focal"]).reshape(2)],
                "principal_point": [float(v) for v in np.asarray(annot["princpt"]).reshape(2)],
                "smplx_pose": pose, "smplx_shape": shape, "smplx_transl": transl,
            }


def find_examples(data_dir: str | os.PathLike, split: str, data_format: str = "auto"):
    """Yield ``(key, example)`` of one split (``training`` / ``validation``) of a folder in an accepted layout."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ValueError(f"data_dir {data_dir} is not a folder")
    if data_format not in FORMATS:
        raise ValueError(f"data_format must be one of {FORMATS}, got {data_format!r}")
    fmt = _detect_format(data_dir) if data_format == "auto" else data_format
    return _bedlam_examples(data_dir, split) if fmt == "bedlam_npz" else _pickle_examples(data_dir, split)


class MultiHMRPeopleConfig(datasets.BuilderConfig):
    pass


class MultiHMRPeople(datasets.GeneratorBasedBuilder):
    """SMPL-X people annotations in upstream Multi-HMR's training formats (see the module docstring)."""

    BUILDER_CONFIG_CLASS = MultiHMRPeopleConfig
    BUILDER_CONFIGS = [MultiHMRPeopleConfig(name=name) for name in FORMATS]
    DEFAULT_CONFIG_NAME = "auto"

    def _info(self):
        return datasets.DatasetInfo(
            description="SMPL-X multi-person annotations (BEDLAM npz or upstream Multi-HMR pickle) read locally",
            features=datasets.Features({
                "id": datasets.Value("string"),
                "image": datasets.Image(),
                "rotation": datasets.Value("int32"),
                "focal": datasets.Sequence(datasets.Value("float32"), length=2),
                "principal_point": datasets.Sequence(datasets.Value("float32"), length=2),
                "smplx_pose": datasets.Array2D((None, 165), "float32"),
                "smplx_shape": datasets.Array2D((None, 11), "float32"),
                "smplx_transl": datasets.Array2D((None, 3), "float32"),
            }),
        )

    def _split_generators(self, dl_manager):
        if not self.config.data_dir:
            raise ValueError("MultiHMRPeople needs data_dir=<folder with the annotations and images>")
        data_dir = Path(self.config.data_dir)
        fmt = _detect_format(data_dir) if self.config.name == "auto" else self.config.name
        found = []
        for name, split in SPLITS.items():
            probe = find_examples(data_dir, name, fmt)
            if next(iter(probe), None) is not None:
                found.append(datasets.SplitGenerator(name=split, gen_kwargs={"split": name, "fmt": fmt}))
        if not found:
            raise ValueError(f"no annotated image found under {data_dir} (format {fmt}); see the accepted layouts "
                             "in nlv_hf.data.multi_hmr_people")
        return found

    def _generate_examples(self, split: str, fmt: str):
        yield from find_examples(self.config.data_dir, split, fmt)


class SMPLXPeopleTransform:
    """An example of :class:`MultiHMRPeople` -> the people record of the ``multi-hmr`` recipe, with GT meshes from
    the licensed SMPL-X model (neutral, 11 betas, ``flat_hand_mean``, no PCA: upstream's ``prepare_gt``).

    The image is turned by ``rotation`` degrees; ``K`` is built from ``focal`` / ``principal_point``. People behind
    the camera (``transl z <= 0.01``) are dropped (upstream training). Per person: ``rotvec`` (P, 53, 3) in the
    model's order (global, 21 body, 15 left hand, 15 right hand, jaw), ``betas`` (P, 11), ``joints_3d`` (P, 127, 3)
    and ``vertices`` (P, 10475, 3) in the camera frame, ``translation`` / ``centers_2d`` of the head joint."""

    HEAD = 15

    def __init__(self, smplx_path: str | os.PathLike | None = None, body_model=None):
        if body_model is None:
            from nlv_hf.body.smplx_model import SMPLXBodyModel

            body_model = SMPLXBodyModel(smplx_path, num_betas=11)
        self.body_model = body_model

    def __call__(self, example: dict[str, Any]) -> dict[str, Any]:
        image = example["image"]
        if not isinstance(image, PIL.Image.Image):
            image = PIL.Image.open(image)
        image = image.convert("RGB")
        if int(example.get("rotation", 0)):
            image = image.rotate(int(example["rotation"]), expand=True)
        fx, fy = (float(v) for v in example["focal"])
        cx, cy = (float(v) for v in example["principal_point"])
        k = torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        pose = torch.as_tensor(np.asarray(example["smplx_pose"], np.float32)).reshape(-1, 165)
        shape = torch.as_tensor(np.asarray(example["smplx_shape"], np.float32)).reshape(-1, 11)
        transl = torch.as_tensor(np.asarray(example["smplx_transl"], np.float32)).reshape(-1, 3)
        keep = transl[:, 2] > 0.01
        pose, shape, transl = pose[keep], shape[keep], transl[keep]
        n = pose.shape[0]
        layer = self.body_model.layer("cpu")
        with torch.no_grad():
            out = layer(global_orient=pose[:, :3], body_pose=pose[:, 3:66], jaw_pose=pose[:, 66:69],
                        leye_pose=pose[:, 69:72], reye_pose=pose[:, 72:75], left_hand_pose=pose[:, 75:120],
                        right_hand_pose=pose[:, 120:165], betas=shape, transl=transl,
                        expression=torch.zeros(n, self.body_model.num_expression_coeffs))
        joints, vertices = out.joints.float(), out.vertices.float()
        rotvec = torch.cat([pose[:, :66], pose[:, 75:165], pose[:, 66:69]], dim=1).reshape(n, 53, 3)
        head = joints[:, self.HEAD]
        centers = (head[:, :2] / head[:, 2:]) * torch.tensor([fx, fy]) + torch.tensor([cx, cy])
        return {"image": np.asarray(image), "K": k, "centers_2d": centers, "translation": head, "rotvec": rotvec,
                "betas": shape, "joints_3d": joints, "vertices": vertices}
