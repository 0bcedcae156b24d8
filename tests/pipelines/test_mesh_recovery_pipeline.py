"""MeshRecoveryPipeline: image -> people -> overlay / GLB / JSON, on a tiny random Multi-HMR-Anny."""

import json

import numpy as np
import PIL.Image
import pytest
import torch

from nlv_hf.body.mesh_io import people_from_json
from nlv_hf.models.multi_hmr import MultiHMRConfig, MultiHMRForMeshRecovery
from nlv_hf.models.multi_hmr.image_processing_multi_hmr import MultiHMRImageProcessor
from nlv_hf.pipelines.mesh_recovery import MeshRecoveryPipeline

TINY = dict(image_size=56, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, decoder_hidden_size=32,
            decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_head_dim=16,
            decoder_intermediate_size=64, camera_embedding_num_bands=4)
FORCED = [(3, 1), (0, 2), (1, 1), (2, 3), (0, 0)]


@pytest.fixture(scope="module")
def pipe():
    pytest.importorskip("anny")
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(MultiHMRConfig(body_model="anny", **TINY))
    return MeshRecoveryPipeline(model)


@pytest.fixture(scope="module")
def photo():
    from skimage.data import astronaut

    return PIL.Image.fromarray(astronaut()).resize((96, 64))  # not square: letterbox undone in the outputs


def test_forced_people_overlay_glb_json(pipe, photo, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    result = pipe(photo, detections=FORCED)
    assert len(result.people) == 5 and result.body_model == "anny"
    assert set(result.timings) == {"preprocess", "model", "postprocess"}
    # same people as the model with those detections, post-processed to the original pixels
    inputs = pipe.image_processor(photo)
    forced = torch.tensor([[0, r, c] for r, c in sorted(FORCED)])
    with torch.no_grad():
        out = pipe.model(inputs["pixel_values"], detections=forced)
    expected = pipe.image_processor.post_process_mesh_recovery(out, target_sizes=inputs["original_sizes"])[0]
    for got, want in zip(result.people, expected):
        torch.testing.assert_close(got["vertices_2d"], want["vertices_2d"])
        assert got["score"] == want["score"]
    # the camera of the original image projects the camera-space joints onto their 2D positions
    person = result.people[0]
    projected = (result.intrinsics @ person["joints_3d"].T).T
    torch.testing.assert_close(projected[:, :2] / projected[:, 2:], person["joints_2d"], atol=1e-2, rtol=1e-4)

    overlay = result.overlay()
    assert overlay.shape == (64, 96, 3) and overlay.dtype == np.uint8
    glb = result.to_glb(tmp_path / "people.glb")
    scene = trimesh.load(glb, force="scene")
    assert len(scene.geometry) == 5
    doc = json.loads(result.to_json(tmp_path / "people.json"))
    assert doc["metadata"]["image_size"] == [64, 96] and doc["metadata"]["num_people"] == 5
    assert doc["metadata"]["body_model"] == "anny" and 0 < doc["metadata"]["fov"] < 180
    people, meta = people_from_json(tmp_path / "people.json", return_metadata=True)
    torch.testing.assert_close(people[1]["translation"], result.people[1]["translation"])


def test_detection_threshold_and_no_people(pipe, photo, tmp_path):
    everybody = pipe(photo, threshold=0.0)
    assert len(everybody.people) >= 1
    nobody = pipe(photo, threshold=1.0)
    assert nobody.people == []
    np.testing.assert_array_equal(nobody.overlay(), np.asarray(photo))
    with pytest.raises(ValueError, match="no people"):
        nobody.to_glb(tmp_path / "empty.glb")
    assert json.loads(nobody.to_json())["people"] == []


def test_fov_and_intrinsics(pipe, photo):
    # Anny regresses its camera unless one is given
    regressed = pipe(photo, detections=[(1, 1)])
    given = pipe(photo, detections=[(1, 1)], fov=50.0)
    assert given.fov == pytest.approx(50.0, abs=1e-3)
    assert regressed.fov != pytest.approx(50.0, abs=1e-3)
    k = torch.tensor([[80.0, 0, 48], [0, 80.0, 32], [0, 0, 1]])
    torch.testing.assert_close(pipe(photo, detections=[(1, 1)], intrinsics=k).intrinsics, k, atol=1e-4, rtol=1e-5)


def test_bad_input(pipe, photo):
    with pytest.raises(ValueError, match="threshold"):
        pipe(photo, threshold=1.5)
    with pytest.raises(ValueError, match="nms_kernel_size"):
        pipe(photo, nms_kernel_size=2)
    with pytest.raises(ValueError, match="row, column"):
        pipe(photo, detections=[(9, 0)])
    with pytest.raises(ValueError, match="image"):
        pipe("not an image")
    with pytest.raises(ValueError, match="MultiHMRForMeshRecovery"):
        MeshRecoveryPipeline(torch.nn.Linear(1, 1))
    with pytest.raises(ValueError, match="px"):
        MeshRecoveryPipeline(pipe.model, MultiHMRImageProcessor(image_size=112))


def test_from_pretrained_folder(pipe, photo, tmp_path):
    pipe.model.save_pretrained(tmp_path)
    MultiHMRImageProcessor(image_size=56).save_pretrained(tmp_path)
    loaded = MeshRecoveryPipeline.from_pretrained(tmp_path)
    a, b = pipe(photo, detections=FORCED), loaded(photo, detections=FORCED)
    torch.testing.assert_close(a.people[2]["vertices"], b.people[2]["vertices"])
