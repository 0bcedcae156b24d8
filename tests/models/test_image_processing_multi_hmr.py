"""MultiHMRImageProcessor (upstream demo letterboxing, intrinsics) and post_process_mesh_recovery (people in original
image pixels)."""

import numpy as np
import PIL.Image
import PIL.ImageOps
import pytest
import torch

from nlv_hf.body.synthetic_smplx import write_synthetic_smplx
from nlv_hf.models.multi_hmr import MultiHMRConfig, MultiHMRForMeshRecovery
from nlv_hf.models.multi_hmr.image_processing_multi_hmr import MultiHMRImageProcessor, letterbox_geometry

TINY = dict(image_size=56, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, decoder_hidden_size=32,
            decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_head_dim=16,
            decoder_intermediate_size=64, camera_embedding_num_bands=4)


def test_letterbox_matches_upstream_demo():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)  # landscape, non-square
    proc = MultiHMRImageProcessor(image_size=56)
    out = proc(image)
    assert out["pixel_values"].shape == (1, 3, 56, 56) and out["pixel_values"].dtype == torch.float32
    # upstream: ImageOps.contain + ImageOps.pad, /255, ImageNet normalisation
    ref = PIL.ImageOps.pad(PIL.ImageOps.contain(PIL.Image.fromarray(image), (56, 56)), (56, 56))
    ref = (np.asarray(ref, np.float32) / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(out["pixel_values"][0].permute(1, 2, 0).numpy(), ref, atol=1e-5)
    # default camera: 60 degrees over the padded square, principal point at its centre
    f = 56 / (2 * np.tan(np.radians(30)))
    np.testing.assert_allclose(out["intrinsics"][0].numpy(), [[f, 0, 28], [0, f, 28], [0, 0, 1]], rtol=1e-6)
    assert out["original_sizes"].tolist() == [[30, 50]]
    sx, sy, ox, oy, w, h = letterbox_geometry(30, 50, 56)
    assert (w, h, ox, oy) == (56, 34, 0, 11)
    # padding rows are the normalised zero colour
    np.testing.assert_allclose(out["pixel_values"][0, 0, :11].numpy(), -0.485 / 0.229, atol=1e-5)


def test_given_intrinsics_are_mapped_to_the_model_input():
    proc = MultiHMRImageProcessor(image_size=56)
    k = np.array([[100.0, 0, 25], [0, 100.0, 15], [0, 0, 1]])
    out = proc([np.zeros((30, 50, 3), np.uint8), np.zeros((50, 30, 3), np.uint8)], intrinsics=[k, k])
    sx, sy, ox, oy, _, _ = letterbox_geometry(30, 50, 56)
    expected = np.array([[100 * sx, 0, 25 * sx + ox], [0, 100 * sy, 15 * sy + oy], [0, 0, 1]])
    np.testing.assert_allclose(out["intrinsics"][0].numpy(), expected, rtol=1e-6)
    # a 3D point projects to the same image pixel through either camera (mapped by the letterbox)
    point = np.array([0.3, -0.2, 2.0])
    uv = (k @ point)[:2] / point[2]
    uv_in = (out["intrinsics"][0].numpy() @ point)[:2] / point[2]
    np.testing.assert_allclose((uv_in - [ox, oy]) / [sx, sy], uv, rtol=1e-5)


def test_bad_inputs():
    proc = MultiHMRImageProcessor(image_size=56)
    with pytest.raises(ValueError, match="shape"):
        proc(np.zeros((30, 50), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        proc(np.full((10, 10, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="intrinsics"):
        proc(np.zeros((10, 10, 3), np.uint8), intrinsics=np.eye(2))
    with pytest.raises(ValueError, match="fov"):
        proc(np.zeros((10, 10, 3), np.uint8), fov=200)
    with pytest.raises(ValueError, match="empty list"):
        proc([])


def test_save_load(tmp_path):
    proc = MultiHMRImageProcessor(image_size=672, default_fov=50.0)
    proc.save_pretrained(tmp_path)
    again = MultiHMRImageProcessor.from_pretrained(tmp_path)
    assert again.image_size == 672 and again.default_fov == 50.0


@torch.no_grad()
def test_post_process_returns_people_in_original_pixels(tmp_path):
    write_synthetic_smplx(tmp_path)
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(MultiHMRConfig(**TINY, smplx_path=str(tmp_path))).eval()
    proc = MultiHMRImageProcessor(image_size=56)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 100, 3), dtype=np.uint8), rng.integers(0, 256, (90, 45, 3), dtype=np.uint8)]
    k_orig = [np.array([[120.0, 0, 50], [0, 120.0, 20], [0, 0, 1]]),
              np.array([[80.0, 0, 22], [0, 80.0, 45], [0, 0, 1]])]
    inputs = proc(images, intrinsics=k_orig)
    out = model(**inputs, detections=torch.tensor([[0, 1, 1], [0, 2, 3], [1, 3, 2]]))
    people = proc.post_process_mesh_recovery(out, target_sizes=inputs["original_sizes"])
    assert [len(p) for p in people] == [2, 1]
    for image_people, k in zip(people, k_orig):
        k = torch.tensor(k, dtype=torch.float32)
        for person in image_people:
            assert set(person) == {"score", "center_2d", "params", "translation", "vertices", "joints_3d",
                                   "joints_2d", "vertices_2d"}
            assert isinstance(person["score"], float)
            assert person["params"]["rotvec"].shape == (53, 3) and person["params"]["shape"].shape == (10,)
            assert person["params"]["expression"].shape == (10,)
            assert person["vertices"].shape == (10475, 3) and person["vertices_2d"].shape == (10475, 2)
            assert person["joints_3d"].shape == (127, 3) and person["joints_2d"].shape == (127, 2)
            # the projections are in the original image's pixel frame: project with the original camera
            proj = person["joints_3d"] @ k.T
            torch.testing.assert_close(person["joints_2d"], proj[:, :2] / proj[:, 2:], atol=2e-3, rtol=1e-4)
            proj = person["vertices"] @ k.T
            torch.testing.assert_close(person["vertices_2d"], proj[:, :2] / proj[:, 2:], atol=2e-3, rtol=1e-4)
            # the centre is the head joint
            torch.testing.assert_close(person["center_2d"], person["joints_2d"][15], atol=2e-3, rtol=1e-4)
            torch.testing.assert_close(person["translation"], person["joints_3d"][15], atol=1e-5, rtol=1e-5)
    # threshold filtering and model-input pixels without target_sizes
    scores = out.detection_scores
    strict = proc.post_process_mesh_recovery(out, threshold=float(scores.max()))
    assert sum(len(p) for p in strict) == int((scores >= scores.max()).sum())
    raw = proc.post_process_mesh_recovery(out)
    torch.testing.assert_close(raw[0][0]["center_2d"], out.centers_2d[0])
    with pytest.raises(ValueError, match="target_sizes"):
        proc.post_process_mesh_recovery(out, target_sizes=[[10, 10]])


@torch.no_grad()
def test_post_process_anny_people_closest_first():
    config = MultiHMRConfig(**{**TINY, "body_model": "anny", "num_betas": None})
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(config).eval()
    proc = MultiHMRImageProcessor(image_size=56)
    inputs = proc(np.zeros((60, 30, 3), np.uint8))
    inputs.pop("intrinsics")  # Anny regresses its camera
    out = model(**inputs, detections=torch.tensor([[0, 0, 1], [0, 2, 2], [0, 3, 1]]))
    people = proc.post_process_mesh_recovery(out, target_sizes=inputs["original_sizes"])[0]
    depths = [float(p["translation"][2]) for p in people]
    assert len(people) == 3 and depths == sorted(depths)
    assert set(people[0]["params"]) == {"rotvec", "phenotypes"}
    assert people[0]["params"]["rotvec"].shape == (163, 3) and people[0]["params"]["phenotypes"].shape == (11,)
    assert people[0]["vertices_2d"].shape == (19158, 2)
    # back in the 30x60 image: the centre is the head joint's projection
    sx, sy, ox, oy, _, _ = letterbox_geometry(60, 30, 56)
    order = torch.argsort(out.translation[:, 2])
    for p, i in zip(people, order.tolist()):
        torch.testing.assert_close(p["center_2d"], p["joints_2d"][103], atol=2e-3, rtol=1e-4)
        expected = (out.centers_2d[i] - torch.tensor([ox, oy])) / torch.tensor([sx, sy])
        torch.testing.assert_close(p["center_2d"], expected)
