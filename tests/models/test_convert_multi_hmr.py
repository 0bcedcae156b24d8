"""`nlv-hf convert multi-hmr` on checkpoints in the official container format, and its error messages."""

import argparse

import pytest
import torch

from fixture_utils import Fixture
from nlv_hf.cli import main
from nlv_hf.conversion import ConversionError
from nlv_hf.models.multi_hmr import MultiHMRForMeshRecovery, MultiHMRModel
from nlv_hf.models.multi_hmr import convert_multi_hmr_original as conv


@pytest.fixture()
def tiny_checkpoint(fixtures_root, tmp_path, monkeypatch):
    """The SMPL-X fixture's weights saved as an official checkpoint ({'args', 'model_state_dict'}), with a few
    SMPL-X buffers the converter must drop. The tiny backbone's head count (2 for width 32) is not a released one."""
    monkeypatch.setitem(conv.HEADS_BY_WIDTH, 32, 2)
    fx = Fixture(fixtures_root / "multi_hmr")
    kwargs = {**fx.kwargs, "img_size": [112], "backbone": "dinov2_tiny"}
    state_dict = dict(fx.state_dict)
    state_dict["smpl_layer.neutral_10.bm_x.v_template"] = torch.zeros(10475, 3)
    path = tmp_path / "multiHMR_tiny.pt"
    torch.save({"epoch": 1, "iter": 2, "args": argparse.Namespace(**kwargs), "model_state_dict": state_dict}, path)
    return fx, path


def test_cli_convert_and_reload(tiny_checkpoint, tmp_path):
    fx, path = tiny_checkpoint
    out = tmp_path / "converted"
    assert main(["convert", "multi-hmr", str(path), str(out), "--model-id", "naver/multi-hmr-tiny"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= names
    model = MultiHMRModel.from_pretrained(out).eval()
    full = MultiHMRForMeshRecovery.from_pretrained(out).eval()
    assert model.config.image_size == 112 and model.config.body_model == "smplx"
    io = fx.io
    with torch.no_grad():
        got = model(io["x"], intrinsics=io["K"], detections=io["infer.idx"][:3].T)
        got_full = full(io["x"], intrinsics=io["K"], detections=io["infer.idx"][:3].T, compute_meshes=False)
    torch.testing.assert_close(got.last_hidden_state, io["backbone.out"], atol=1e-5, rtol=0)
    torch.testing.assert_close(got.betas, io["head.shape"], atol=1e-5, rtol=0)
    torch.testing.assert_close(got_full.depth, io["head.dist"], atol=1e-5, rtol=0)
    # a non-empty output folder is refused without --overwrite
    assert main(["convert", "multi-hmr", str(path), str(out)]) == 2


def test_bad_checkpoints_are_explained(tmp_path, tiny_checkpoint, capsys):
    fx, _ = tiny_checkpoint
    croco = tmp_path / "croco.pth"
    torch.save({"model": {"enc_norm.weight": torch.ones(2)}}, croco)
    with pytest.raises(ConversionError, match="CroCo"):
        conv.load_original(croco)
    empty = tmp_path / "empty.pt"
    torch.save({"args": argparse.Namespace(img_size=[112])}, empty)
    with pytest.raises(ConversionError, match="model_state_dict"):
        conv.load_original(empty)
    broken = dict(fx.state_dict)
    broken.pop("mlp_classif.0.weight")
    broken["x_attention_head.unknown"] = torch.zeros(1)
    bad = tmp_path / "bad.pt"
    torch.save({"args": argparse.Namespace(**fx.kwargs), "model_state_dict": broken}, bad)
    with pytest.raises(ConversionError, match="x_attention_head.unknown"):
        conv.load_original(bad)
    del broken["x_attention_head.unknown"]
    torch.save({"args": argparse.Namespace(**fx.kwargs), "model_state_dict": broken}, bad)
    with pytest.raises(ConversionError, match="missing keys.*mlp_classif.0.weight"):
        conv.load_original(bad)
    assert main(["convert", "multi-hmr", str(tmp_path / "nope.pt"), str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_from_original_converts_once_and_caches(tiny_checkpoint, tmp_path):
    fx, path = tiny_checkpoint
    model = MultiHMRForMeshRecovery.from_original(str(path), cache_dir=str(tmp_path / "cache")).eval()
    folders = list((tmp_path / "cache" / "converted" / "multi_hmr").iterdir())
    assert len(folders) == 1 and (folders[0] / "model.safetensors").is_file()
    base = MultiHMRModel.from_original(str(path), cache_dir=str(tmp_path / "cache"))  # reuses the cached folder
    assert len(list((tmp_path / "cache" / "converted" / "multi_hmr").iterdir())) == 1
    io = fx.io
    with torch.no_grad():
        out = model(io["x"], intrinsics=io["K"], detections=io["infer.idx"][:3].T, compute_meshes=False)
    torch.testing.assert_close(out.rotmat, io["head.rotmat"], atol=1e-5, rtol=0)
    torch.testing.assert_close(base.state_dict()["head.decpose.weight"],
                               model.state_dict()["multi_hmr.head.decpose.weight"])
