"""Multi-HMR models: the common suite on tiny SMPL-X configs (synthetic SMPL-X file), plus batching, masking,
body-model errors and the Anny variant."""

import pytest
import torch

from common.model_tester import ModelTesterMixin
from nlv_hf.body.smplx_model import BodyModelFilesNotFoundError
from nlv_hf.body.synthetic_smplx import write_synthetic_smplx
from nlv_hf.models.multi_hmr import MultiHMRConfig, MultiHMRForMeshRecovery, MultiHMRModel
from nlv_hf.models.multi_hmr.modeling_multi_hmr import suppress_non_maxima

TINY = dict(image_size=56, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, decoder_hidden_size=32,
            decoder_num_hidden_layers=2, decoder_num_attention_heads=2, decoder_head_dim=16,
            decoder_intermediate_size=64, camera_embedding_num_bands=4)


@pytest.fixture(scope="module", autouse=True)
def synthetic_smplx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smplx")
    write_synthetic_smplx(folder)
    TestMultiHMR.config_kwargs = {**TINY, "smplx_path": str(folder)}
    return folder


def heatmap_labels(batch_size, grid, generator):
    labels = torch.zeros(batch_size, grid, grid)
    rows = torch.randint(0, grid, (batch_size,), generator=generator)
    cols = torch.randint(0, grid, (batch_size,), generator=generator)
    labels[torch.arange(batch_size), rows, cols] = 1.0
    return labels


class TestMultiHMR(ModelTesterMixin):
    model_classes = (MultiHMRModel, MultiHMRForMeshRecovery)
    loss_model_class = MultiHMRForMeshRecovery
    config_class = MultiHMRConfig
    config_kwargs = dict(TINY)
    invalid_config_kwargs = [
        ({"body_model": "smpl"}, "body_model"),
        ({"image_size": 50}, "multiple of patch_size"),
        ({"num_betas": 12}, "num_betas"),
        ({"detection_threshold": 1.5}, "detection_threshold"),
        ({"default_fov": 190}, "default_fov"),
        ({"hidden_size": 33}, "divisible"),
    ]

    def get_inputs(self, config, batch_size=2):
        g = torch.Generator().manual_seed(0)
        k = torch.tensor([[60.0, 0, 28], [0, 60.0, 28], [0, 0, 1]]).expand(batch_size, 3, 3).clone()
        return {"pixel_values": torch.randn(batch_size, 3, config.image_size, config.image_size, generator=g),
                "intrinsics": k, "labels": heatmap_labels(batch_size, config.grid_size, g)}

    def test_torch_compile(self):
        """Dynamo captures the models (graph breaks only at the data-dependent detection count); the ``aot_eager``
        backend keeps this test within the CPU budget (Inductor codegen of the whole ViT takes minutes on 2 cores)."""
        model = self.build(MultiHMRModel)
        inputs = self.get_inputs(model.config)
        inputs.pop("labels")
        with torch.no_grad():
            reference = model(**inputs)
            compiled = torch.compile(model, backend="aot_eager")(**inputs)
        for key in ("last_hidden_state", "scores", "rotmat", "translation"):
            torch.testing.assert_close(compiled[key], reference[key], rtol=1e-5, atol=1e-5)

    def forward(self, model, inputs):
        inputs = dict(inputs)
        if not isinstance(model, MultiHMRForMeshRecovery) and not hasattr(model, "_orig_mod"):
            inputs.pop("labels")
        elif hasattr(model, "_orig_mod") and not isinstance(model._orig_mod, MultiHMRForMeshRecovery):
            inputs.pop("labels")
        return super().forward(model, inputs)


@torch.no_grad()
def test_people_are_batched_across_images_and_independent(synthetic_smplx):
    """A person's regression depends only on its own image: running images one by one gives the same people as the
    padded batch (different people counts per image exercise padding and masking)."""
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(MultiHMRConfig(**TINY, smplx_path=str(synthetic_smplx))).eval()
    x = torch.randn(3, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    detections = torch.tensor([[0, 1, 1], [0, 2, 3], [0, 3, 0], [2, 0, 2]])  # 3, 0 and 1 people
    batched = model(x, detections=detections)
    assert batched.vertices.shape == (4, 10475, 3) and batched.joints_2d.shape == (4, 127, 2)
    first = model(x[:1], detections=detections[:3])
    last = model(x[2:], detections=torch.tensor([[0, 0, 2]]))
    for key in ("rotvec", "betas", "expression", "translation", "vertices", "joints_2d"):
        torch.testing.assert_close(batched[key][:3], first[key], atol=1e-5, rtol=1e-5, msg=key)
        torch.testing.assert_close(batched[key][3:], last[key], atol=1e-5, rtol=1e-5, msg=key)
    # translation is the camera-space head joint: it projects back onto the detected centre
    head = batched.joints_3d[:, 15]
    torch.testing.assert_close(head, batched.translation, atol=1e-5, rtol=1e-5)
    proj = model.multi_hmr.default_intrinsics(1, torch.float32, "cpu")[0] @ head.T
    torch.testing.assert_close((proj[:2] / proj[2]).T, batched.centers_2d, atol=1e-3, rtol=1e-4)


@torch.no_grad()
def test_detection_rule_and_empty_images(synthetic_smplx):
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(MultiHMRConfig(**TINY, smplx_path=str(synthetic_smplx))).eval()
    x = torch.randn(2, 3, 56, 56)
    out = model(x, detection_threshold=1.01)  # nobody
    assert out.detections.shape == (0, 3) and out.vertices is None and out.rotvec.shape == (0, 53, 3)
    out = model(x, detection_threshold=0.0, nms_kernel_size=1, compute_meshes=False)  # every patch
    assert out.detections.shape[0] == 2 * 16
    out = model(x, detection_threshold=0.1, nms_kernel_size=3, compute_meshes=False)  # local maxima only
    kept = suppress_non_maxima(out.scores, 3)
    assert torch.equal(out.detections, torch.nonzero(kept >= 0.1)) and 0 < out.detections.shape[0] < 32
    hmax = torch.nn.functional.max_pool2d(out.scores[:, None], 3, 1, 1)[:, 0]
    img, row, col = out.detections.unbind(-1)
    assert torch.equal(out.scores[img, row, col], hmax[img, row, col])
    assert model.faces.shape == (20908, 3) and model.faces.dtype == torch.int64


def test_bad_inputs_are_rejected(synthetic_smplx):
    model = MultiHMRModel(MultiHMRConfig(**TINY)).eval()
    with pytest.raises(ValueError, match="56x56"):
        model(torch.randn(1, 3, 70, 70))
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(1, 1, 56, 56))
    with pytest.raises(ValueError, match="intrinsics"):
        model(torch.randn(2, 3, 56, 56), intrinsics=torch.eye(3)[None])
    with pytest.raises(ValueError, match="sorted by image"):
        model(torch.randn(2, 3, 56, 56), detections=torch.tensor([[1, 0, 0], [0, 0, 0]]))
    with pytest.raises(ValueError, match="out of range"):
        model(torch.randn(2, 3, 56, 56), detections=torch.tensor([[0, 9, 0]]))


def test_missing_smplx_files_give_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NLV_SMPLX_DIR", raising=False)
    monkeypatch.delenv("SMPLX_DIR", raising=False)
    model = MultiHMRForMeshRecovery(MultiHMRConfig(**TINY)).eval()  # builds without the licensed files
    with pytest.raises(BodyModelFilesNotFoundError, match="smpl-x.is.tue.mpg.de") as err:
        model(torch.randn(1, 3, 56, 56), detections=torch.tensor([[0, 1, 1]]))
    assert "SMPLX_NEUTRAL.npz" in str(err.value) and "NLV_SMPLX_DIR" in str(err.value)
    out = model(torch.randn(1, 3, 56, 56), detections=torch.tensor([[0, 1, 1]]), compute_meshes=False)
    assert out.rotvec.shape == (1, 53, 3)
    monkeypatch.setenv("NLV_SMPLX_DIR", str(tmp_path))  # env var pointing at a folder without the file
    with pytest.raises(BodyModelFilesNotFoundError, match=str(tmp_path)):
        MultiHMRForMeshRecovery(MultiHMRConfig(**TINY)).faces


@torch.no_grad()
def test_anny_variant_regresses_its_camera():
    config = MultiHMRConfig(**{**TINY, "body_model": "anny", "decoder_head_dim": 16, "num_betas": None})
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(config).eval()
    x = torch.randn(2, 3, 56, 56)
    out = model(x, detections=torch.tensor([[0, 1, 2], [1, 3, 3]]))
    assert out.vertices.shape == (2, 19158, 3) and out.rotmat.shape == (2, 163, 3, 3)
    assert out.fov.shape == (2, 1) and torch.equal(out.intrinsics, out.regressed_intrinsics)
    assert out.expression is None and ((out.betas > 0) & (out.betas < 1)).all()
    # bones outside the rig are the identity
    useful = model.multi_hmr.head.useful_rotmat[0].bool()
    assert torch.allclose(out.rotmat[:, ~useful], torch.eye(3).expand(2, int((~useful).sum()), 3, 3))
    head = out.joints_3d[:, 103]
    torch.testing.assert_close(head, out.translation, atol=1e-4, rtol=1e-5)
    assert model.faces.shape[1] == 3 and int(model.faces.max()) < 19158


def test_detection_loss_matches_the_upstream_formula():
    from nlv_hf.models.multi_hmr.modeling_multi_hmr import detection_focal_loss

    g = torch.Generator().manual_seed(0)
    scores = torch.rand(2, 4, 4, generator=g).clamp(1e-4, 1 - 1e-4)
    target = torch.zeros(2, 4, 4)
    target[0, 1, 2] = target[1, 3, 0] = 1
    pos = (torch.log(scores[0, 1, 2] + 1e-7) * (1 - scores[0, 1, 2]) ** 2
           + torch.log(scores[1, 3, 0] + 1e-7) * (1 - scores[1, 3, 0]) ** 2)
    neg = (torch.log(1 - scores + 1e-7) * scores**2 * (1 - target)).sum()
    torch.testing.assert_close(detection_focal_loss(scores, target), -(pos + neg) / 2)
    torch.testing.assert_close(detection_focal_loss(scores, torch.zeros_like(target)),
                               -(torch.log(1 - scores + 1e-7) * scores**2).sum())
    with pytest.raises(ValueError, match="heatmap shape"):
        detection_focal_loss(scores, target[:, :3])


@torch.no_grad()
def test_bf16_keeps_camera_geometry_in_float32(synthetic_smplx):
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(MultiHMRConfig(**TINY, smplx_path=str(synthetic_smplx))).eval()
    x = torch.randn(1, 3, 56, 56, generator=torch.Generator().manual_seed(3))
    det = torch.tensor([[0, 1, 2], [0, 3, 3]])
    ref = model(x, detections=det)
    out = model.to(torch.bfloat16)(x.bfloat16(), detections=det)
    assert out.last_hidden_state.dtype == torch.bfloat16
    for key in ("intrinsics", "centers_2d", "depth", "translation", "rotmat", "vertices", "joints_2d"):
        assert out[key].dtype == torch.float32, key
    torch.testing.assert_close(out.intrinsics, ref.intrinsics, rtol=0, atol=0)  # not rounded to bf16
    torch.testing.assert_close(out.centers_2d, ref.centers_2d, atol=0.2, rtol=0)
