"""Multi-HMR annotation builders on tiny fake files (BEDLAM npz, upstream pickle) and the SMPL-X people transform."""

import pickle

import numpy as np
import PIL.Image
import pytest
import torch

from nlv_hf.data.multi_hmr_people import MultiHMRPeople, SMPLXPeopleTransform, find_examples


def _image(path, w=40, h=30, value=90):
    path.parent.mkdir(parents=True, exist_ok=True)
    PIL.Image.fromarray(np.full((h, w, 3), value, np.uint8)).save(path)


def _bedlam(root):
    rng = np.random.default_rng(0)
    for split, names in (("training", ["a.png", "a.png", "b.png", "lost.png"]), ("validation", ["c.png"])):
        n = len(names)
        folder = root / f"all_npz_12_{split}"
        folder.mkdir(parents=True)
        ext = np.tile(np.eye(4, dtype=np.float32), (n, 1, 1))
        ext[:, :3, 3] = [0.0, 0.1, 1.0]
        k = np.tile(np.array([[50.0, 0, 20], [0, 51.0, 15], [0, 0, 1]], np.float32), (n, 1, 1))
        np.savez(folder / "seq_closeup_1.npz" if split == "validation" else folder / "seq1.npz",
                 imgname=np.array(names), pose_cam=rng.normal(0, 0.1, (n, 165)).astype(np.float32),
                 shape=rng.normal(0, 1, (n, 11)).astype(np.float32), cam_int=k, cam_ext=ext,
                 trans_cam=np.tile(np.array([0.0, 0.0, 4.0], np.float32), (n, 1)))
        seq = "seq_closeup_1" if split == "validation" else "seq1"
        for name in set(names) - {"lost.png"}:
            _image(root / split / seq / "png" / name)
    return root


def test_bedlam_npz_examples_and_builder(tmp_path):
    root = _bedlam(tmp_path / "bedlam")
    examples = dict(find_examples(root, "training"))
    assert sorted(examples) == ["seq1/png/a.png", "seq1/png/b.png"]  # lost.png has no image: skipped
    a = examples["seq1/png/a.png"]
    assert a["smplx_pose"].shape == (2, 165) and a["smplx_shape"].shape == (2, 11)
    assert np.allclose(a["smplx_transl"], [[0.0, 0.1, 5.0]] * 2)  # trans_cam + cam_ext[:3, 3]
    assert a["focal"] == [50.0, 51.0] and a["principal_point"] == [20.0, 15.0] and a["rotation"] == 0
    val = dict(find_examples(root, "validation"))
    assert list(val.values())[0]["rotation"] == -90  # closeup images are turned
    builder = MultiHMRPeople(data_dir=str(root), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    splits = builder.as_dataset()
    assert sorted(splits) == ["train", "validation"] and len(splits["train"]) == 2
    row = splits["train"].with_format("numpy")[0]
    assert row["smplx_pose"].shape == (2, 165) and row["image"].shape == (30, 40, 3)


def test_pickle_examples_and_errors(tmp_path):
    root = tmp_path / "pkl"
    human = {"smplx_root_pose": np.zeros((1, 3)), "smplx_body_pose": np.ones((21, 3)) * 0.1,
             "smplx_jaw_pose": np.zeros((1, 3)), "smplx_leye_pose": np.zeros((1, 3)),
             "smplx_reye_pose": np.zeros((1, 3)), "smplx_left_hand_pose": np.zeros((15, 3)),
             "smplx_right_hand_pose": np.full((15, 3), 0.2), "smplx_shape": np.arange(11.0),
             "smplx_gender": "neutral", "smplx_transl": np.array([0.5, 0.0, 3.0])}
    annots = {"s/png/x.png": {"focal": np.array([60.0, 60.0]), "princpt": np.array([20.0, 15.0]),
                              "size": np.array([40, 30]), "humans": [human, human]},
              "s/png/empty.png": {"focal": np.array([60.0, 60.0]), "princpt": np.array([20.0, 15.0]),
                                  "size": np.array([40, 30]), "humans": []}}
    (root / "annotations").mkdir(parents=True)
    with open(root / "annotations" / "bedlam_training.pkl", "wb") as f:
        pickle.dump(annots, f)
    _image(root / "training" / "s" / "png" / "x.png")
    _image(root / "training" / "s" / "png" / "empty.png")
    examples = dict(find_examples(root, "training"))
    x = examples["s/png/x.png"]
    assert x["smplx_pose"].shape == (2, 165)
    assert np.allclose(x["smplx_pose"][0, 3:66], 0.1) and np.allclose(x["smplx_pose"][0, 120:], 0.2)
    assert examples["s/png/empty.png"]["smplx_pose"].shape == (0, 165)
    assert list(find_examples(root, "validation")) == []
    with pytest.raises(ValueError, match="no Multi-HMR annotations"):
        list(find_examples(tmp_path / "pkl" / "training", "training"))
    with pytest.raises(ValueError, match="data_format"):
        find_examples(root, "training", "coco")
    del annots["s/png/x.png"]["humans"][0]["smplx_shape"]
    with open(root / "annotations" / "bedlam_training.pkl", "wb") as f:
        pickle.dump(annots, f)
    with pytest.raises(ValueError, match="smplx_shape"):
        list(find_examples(root, "training"))


def test_smplx_people_transform_with_synthetic_smplx(tmp_path):
    from nlv_hf.body.smplx_model import SMPLXBodyModel
    from nlv_hf.body.synthetic_smplx import write_synthetic_smplx
    from nlv_hf.training.multi_hmr import MultiHMRCollator

    body = SMPLXBodyModel(write_synthetic_smplx(tmp_path / "smplx"), num_betas=11)
    root = _bedlam(tmp_path / "bedlam")
    example = dict(find_examples(root, "training"))["seq1/png/a.png"]
    example["smplx_transl"][1, 2] = -1.0  # behind the camera: dropped
    record = SMPLXPeopleTransform(body_model=body)(example)
    assert record["image"].shape == (30, 40, 3) and record["rotvec"].shape == (1, 53, 3)
    assert record["joints_3d"].shape == (1, 127, 3) and record["vertices"].shape == (1, 10475, 3)
    # rotvec order: global, body, left hand, right hand, jaw (from pose_cam: root, body, jaw, eyes, hands)
    assert torch.equal(record["rotvec"][0, 52], torch.as_tensor(example["smplx_pose"][0, 66:69]))
    assert torch.equal(record["rotvec"][0, 22], torch.as_tensor(example["smplx_pose"][0, 75:78]))
    head = record["joints_3d"][0, 15]
    assert torch.allclose(record["translation"][0], head)
    assert torch.allclose(record["centers_2d"][0], head[:2] / head[2] * torch.tensor([50.0, 51.0])
                          + torch.tensor([20.0, 15.0]))
    # the same SMPL-X with the translation removed gives a rigidly shifted body
    shifted = dict(example, smplx_transl=example["smplx_transl"] + np.float32([0.0, 0.0, 1.0]))
    moved = SMPLXPeopleTransform(body_model=body)(shifted)
    assert torch.allclose(moved["vertices"][0] - record["vertices"][0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-5)
    batch = MultiHMRCollator(56, 14, "smplx")([record])
    assert batch["labels"]["betas"].shape == (1, 11) and batch["labels"]["joints_3d"].shape == (1, 127, 3)
