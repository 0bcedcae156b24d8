"""Procedural Anny people: determinism, ground-truth consistency, batching, the dataset builder, bad inputs.

Anny is heavy (its first build in a fresh environment preprocesses data for ~1-2 minutes and caches it under
~/.cache/anny); the body model is built once per process and every test uses small images.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("anny")

from nlv_hf.body.render import project_points  # noqa: E402
from nlv_hf.body.rotations import rotmat_to_rotvec, rotvec_to_rotmat  # noqa: E402
from nlv_hf.data.anny_people import (  # noqa: E402
    ANNY_NUM_BONES,
    PHENOTYPE_LABELS,
    AnnyPeopleConfig,
    AnnyPeopleDataset,
    anny_body_forward,
    collate_anny_people,
    generate_anny_people_sample,
)

REPO = Path(__file__).resolve().parents[2]
CONFIG = AnnyPeopleConfig(image_size=(72, 96), min_people=1, max_people=3)
TORSO = ("root", "spine01", "spine02", "spine03", "spine04", "spine05")
BODY = TORSO + ("neck01", "head", "upperleg01.L", "upperleg01.R", "upperleg02.L", "upperleg02.R",
                "lowerleg01.L", "lowerleg01.R", "upperarm01.L", "upperarm01.R")  # fmt: skip


@pytest.fixture(scope="module")
def dataset():
    return AnnyPeopleDataset(3, CONFIG, seed=7)


@pytest.fixture(scope="module")
def samples(dataset):
    return [dataset[i] for i in range(len(dataset))]


def test_shapes_and_types(dataset, samples):
    h, w = CONFIG.image_size
    for s in samples:
        p = s["num_people"]
        assert 1 <= p <= 3
        assert s["image"].shape == (h, w, 3) and s["image"].dtype == torch.uint8
        assert s["depth"].shape == (h, w) and s["masks"].shape == (p, h, w) and s["masks"].dtype == torch.bool
        assert s["vertices"].shape == (p, 19158, 3)
        assert s["joints_3d"].shape == (p, ANNY_NUM_BONES, 3) and s["joints_2d"].shape == (p, ANNY_NUM_BONES, 2)
        assert s["rotvec"].shape == (p, ANNY_NUM_BONES, 3) and s["phenotypes"].shape == (p, len(PHENOTYPE_LABELS))
        assert s["center_2d"].shape == (p, 2) and s["translation"].shape == (p, 3)
    assert dataset.faces.shape[1] == 3 and dataset.faces.dtype == torch.int64
    assert dataset.joint_names[0] == "root" and "head" in dataset.joint_names
    assert {s["num_people"] for s in samples} != {1} or len(samples) < 3  # not all single-person


def test_deterministic(dataset, samples):
    again = AnnyPeopleDataset(3, CONFIG, seed=7)[1]
    for key, value in samples[1].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, again[key]), key
        else:
            assert value == again[key], key
    other = generate_anny_people_sample(8, 1, CONFIG)
    assert not torch.equal(other["image"], samples[1]["image"])
    assert not torch.equal(samples[0]["image"], samples[1]["image"])


def test_camera_and_projections_are_consistent(dataset, samples):
    head = dataset.joint_names.index("head")
    for s in samples:
        K = s["K"]
        h, w = CONFIG.image_size
        assert K[0, 2] == w / 2 and K[1, 2] == h / 2 and K[0, 0] == K[1, 1]
        assert float(K[0, 0]) == pytest.approx(max(h, w) / (2 * np.tan(np.radians(30.0))), rel=1e-6)
        torch.testing.assert_close(s["joints_2d"], project_points(s["joints_3d"], K))
        assert torch.equal(s["center_2d"], s["joints_2d"][:, head])
        assert torch.equal(s["translation"], s["joints_3d"][:, head])
        # people stand in front of the camera inside the configured depth range
        z = s["root_translation"][:, 2]
        assert ((z >= CONFIG.depth_range[0]) & (z <= CONFIG.depth_range[1])).all()
        # people are upright: the head is above (smaller y than) the root in the camera frame
        assert (s["joints_3d"][:, head, 1] < s["root_translation"][:, 1] - 0.3).all()


def test_masks_depth_and_joints_agree(dataset, samples):
    names = dataset.joint_names
    torso = [names.index(n) for n in TORSO]
    body = [names.index(n) for n in BODY]
    h, w = CONFIG.image_size
    hits = total = 0
    for s in samples:
        masks, depth = s["masks"], s["depth"]
        union = masks.any(0)
        assert (masks.sum(0) <= 1).all()  # visible masks are disjoint
        assert torch.equal(union, depth > 0)
        for p in range(s["num_people"]):
            assert masks[p].sum() > 20
            zmin, zmax = s["vertices"][p, :, 2].min(), s["vertices"][p, :, 2].max()
            d = depth[masks[p]]
            assert (d >= zmin - 1e-4).all() and (d <= zmax + 1e-4).all()
            for j in body:
                u, v = s["joints_2d"][p, j].tolist()
                if not (0 <= u < w and 0 <= v < h):
                    continue
                r, c = int(v), int(u)
                on = bool(union[r, c]) and float(depth[r, c]) <= float(s["joints_3d"][p, j, 2]) + 0.02
                if j in torso:  # torso joints sit inside a wide body part: always on the silhouette, in front
                    assert on, (names[j], p)
                hits += on
                total += 1
    assert total > 20 and hits / total >= 0.85, (hits, total)


def test_parameters_reproduce_the_vertices(samples):
    s = samples[0]
    body = anny_body_forward(rotvec_to_rotmat(s["rotvec"]), s["phenotypes"])
    torch.testing.assert_close(body["vertices"] + s["root_translation"][:, None], s["vertices"], atol=2e-4, rtol=0)
    torch.testing.assert_close(body["joints"] + s["root_translation"][:, None], s["joints_3d"], atol=2e-4, rtol=0)
    unused = [PHENOTYPE_LABELS.index(k) for k in ("cupsize", "firmness", "african", "asian", "caucasian")]
    assert (s["phenotypes"][:, unused] == 0.5).all()


def test_collate_pads_people(samples):
    batch = collate_anny_people(samples)
    n = [s["num_people"] for s in samples]
    p_max = max(n)
    assert batch["image"].shape == (3, *CONFIG.image_size, 3)
    assert batch["joints_3d"].shape == (3, p_max, ANNY_NUM_BONES, 3)
    assert batch["people_mask"].sum(1).tolist() == n
    for b, s in enumerate(samples):
        assert torch.equal(batch["joints_2d"][b, : n[b]], s["joints_2d"])
        assert (batch["joints_2d"][b, n[b] :] == 0).all()
    with pytest.raises(ValueError, match="empty"):
        collate_anny_people([])


def _load_builder():
    name = "dataset_scripts.anny_people.anny_people"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "dataset_scripts" / "anny_people" / "anny_people.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_builder_matches_the_generator(tmp_path):
    module = _load_builder()
    builder = module.AnnyPeople(
        config_name="small", num_samples=2, image_size=(40, 48), seed=3, cache_dir=str(tmp_path / "cache")
    )
    builder.download_and_prepare()
    ds = builder.as_dataset()
    assert ds["train"].num_rows == 2 and ds["validation"].num_rows == 1
    ex = ds["train"].with_format("numpy")[1]
    ref = generate_anny_people_sample(3, 1, AnnyPeopleConfig(image_size=(40, 48)))
    np.testing.assert_array_equal(ex["image"], ref["image"].numpy())
    np.testing.assert_array_equal(ex["joints_3d"], ref["joints_3d"].numpy())
    np.testing.assert_array_equal(ex["center_2d"], ref["center_2d"].numpy())
    np.testing.assert_array_equal(ex["depth"], ref["depth"].numpy())
    for p in range(ref["num_people"]):
        np.testing.assert_array_equal(ex["instance_mask"] == p, ref["masks"][p].numpy())
    assert (ex["instance_mask"] >= 0).sum() == ref["masks"].sum()
    assert "vertices" not in ds["train"].features
    with pytest.raises(ValueError, match="num_samples"):
        module.AnnyPeople(config_name="small", num_samples=0, cache_dir=str(tmp_path / "c2"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image_size": (8, 8)}, "image_size"),
        ({"min_people": 3, "max_people": 2}, "min_people"),
        ({"fov_degrees": 200.0}, "fov_degrees"),
        ({"depth_range": (5.0, 1.0)}, "depth_range"),
        ({"max_joint_angle": 2.0}, "max_joint_angle"),
        ({"max_yaw": -1.0}, "max_yaw"),
        ({"phenotype_ranges": {"eyes": (0.0, 1.0)}}, "unknown phenotypes"),
        ({"phenotype_ranges": {"age": (0.8, 0.2)}}, "phenotype range"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AnnyPeopleConfig(**kwargs)


def test_bad_dataset_arguments(dataset):
    with pytest.raises(ValueError, match="num_samples"):
        AnnyPeopleDataset(0)
    with pytest.raises(ValueError, match="seed"):
        AnnyPeopleDataset(2, seed=-1)
    with pytest.raises(IndexError):
        dataset[5]


def test_rotation_helpers_match_scipy():
    from scipy.spatial.transform import Rotation

    gen = torch.Generator().manual_seed(0)
    rv = torch.randn(200, 3, generator=gen, dtype=torch.float64)
    rv = rv / rv.norm(dim=-1, keepdim=True) * torch.rand(200, 1, generator=gen, dtype=torch.float64) * 3.1
    R = rotvec_to_rotmat(rv)
    np.testing.assert_allclose(R.numpy(), Rotation.from_rotvec(rv.numpy()).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(rotmat_to_rotvec(R).numpy(), rv.numpy(), atol=1e-10)
    assert torch.equal(rotvec_to_rotmat(torch.zeros(3)), torch.eye(3))
