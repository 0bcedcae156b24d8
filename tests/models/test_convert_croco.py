"""The CroCo converter: the three checkpoint layouts, the CLI, strictness and bad files."""

import argparse
import json
import subprocess
import sys

import pytest
import torch

from fixture_utils import Fixture
from nlv_hf.conversion import ConversionError
from nlv_hf.models.croco import CroCoForPretraining
from nlv_hf.models.croco.convert_croco_original import convert_croco_checkpoint, load_original


@pytest.fixture(scope="module")
def v2(fixtures_root):
    return Fixture(fixtures_root / "croco_v2")


@pytest.fixture(scope="module")
def v1(fixtures_root):
    return Fixture(fixtures_root / "croco_v1")


def model_string(kwargs):
    return "CroCoNet(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"


@pytest.mark.parametrize("layout", ["croco_kwargs", "pretrain_args"])
def test_v2_layouts_convert_and_reproduce(tmp_path, v2, layout):
    if layout == "croco_kwargs":
        ckpt = {"model": v2.state_dict, "croco_kwargs": v2.kwargs}
    else:  # what upstream pretrain.py writes: an argparse.Namespace with the model string
        ckpt = {"model": v2.state_dict, "args": argparse.Namespace(model=model_string(v2.kwargs), lr=1e-4),
                "epoch": 3}
    path = tmp_path / "ckpt.pth"
    torch.save(ckpt, path)
    model = load_original(path)
    assert model.config.pos_embed == "RoPE100" and model.config.decoder_hidden_size == 48
    with torch.no_grad():
        out = model(v2.io["img1"], v2.io["img2"], bool_masked_pos=v2.io["mask1"])
    torch.testing.assert_close(out.logits, v2.io["pred"], rtol=0, atol=1e-5)


def test_v1_without_kwargs_uses_upstream_defaults(tmp_path, v1):
    """CroCo.pth stores no kwargs: upstream defaults apply, cosine detected from the tables."""
    torch.save({"model": v1.state_dict}, tmp_path / "v1.pth")
    with pytest.raises(ConversionError, match="shape mismatches"):  # the fixture is not the default size
        load_original(tmp_path / "v1.pth")


def test_cli_convert_writes_hub_folder_and_refuses_overwrite(tmp_path, v2):
    torch.save({"model": v2.state_dict, "croco_kwargs": v2.kwargs}, tmp_path / "v2.pth")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "nlv_hf.cli", "convert", "croco", str(tmp_path / "v2.pth"), str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md", "modeling_croco.py"} <= names
    assert json.loads((out / "config.json").read_text())["auto_map"]["AutoModel"] == "modeling_croco.CroCoModel"
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 2 and "exists and is not empty" in again.stderr
    assert "Traceback" not in again.stderr


def test_from_original_converts_once_and_caches(tmp_path, v2):
    torch.save({"model": v2.state_dict, "croco_kwargs": v2.kwargs}, tmp_path / "v2.pth")
    model = CroCoForPretraining.from_original(str(tmp_path / "v2.pth"), cache_dir=str(tmp_path / "cache"))
    folders = list((tmp_path / "cache" / "converted" / "croco").iterdir())
    assert len(folders) == 1
    again = CroCoForPretraining.from_original(str(tmp_path / "v2.pth"), cache_dir=str(tmp_path / "cache"))
    assert len(list((tmp_path / "cache" / "converted" / "croco").iterdir())) == 1
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


def test_strict_errors_name_the_keys(tmp_path, v2):
    sd = dict(v2.state_dict)
    sd.pop("dec_norm.weight")
    sd["extra.weight"] = torch.zeros(1)
    torch.save({"model": sd, "croco_kwargs": v2.kwargs}, tmp_path / "bad.pth")
    with pytest.raises(ConversionError, match=r"extra\.weight"):
        load_original(tmp_path / "bad.pth")
    sd = dict(v2.state_dict)
    sd.pop("dec_norm.weight")
    torch.save({"model": sd, "croco_kwargs": v2.kwargs}, tmp_path / "missing.pth")
    with pytest.raises(ConversionError, match=r"missing keys: \['croco\.decoder\.norm\.weight'\]"):
        load_original(tmp_path / "missing.pth")


def test_bad_files_give_clear_errors_and_no_output(tmp_path, v2):
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ConversionError, match="empty"):
        load_original(tmp_path / "empty.pth")
    torch.save({"model": v2.state_dict, "croco_kwargs": v2.kwargs}, tmp_path / "good.pth")
    data = (tmp_path / "good.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match="corrupt|truncated"):
        convert_croco_checkpoint(tmp_path / "truncated.pth", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not any(p.name.startswith(".out.tmp") for p in tmp_path.iterdir())
    with pytest.raises(ConversionError, match="not found"):
        load_original(tmp_path / "nope.pth")


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_refuses_arbitrary_pickles(tmp_path, v2):
    torch.save({"model": v2.state_dict, "croco_kwargs": v2.kwargs, "hook": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(ConversionError, match="refusing to unpickle"):
        load_original(tmp_path / "evil.pth")


def test_other_methods_are_named(tmp_path, v2):
    torch.save({"model_state_dict": {}, "args": argparse.Namespace()}, tmp_path / "hmr.pth")
    with pytest.raises(ConversionError, match="Multi-HMR"):
        load_original(tmp_path / "hmr.pth")
    stereo = {k: v for k, v in v2.state_dict.items() if k not in ("mask_token",) and not k.startswith("prediction")}
    stereo["head.dpt.head.0.weight"] = torch.zeros(1)
    torch.save({"model": stereo, "args": argparse.Namespace(task="stereo")}, tmp_path / "stereo.pth")
    with pytest.raises(ConversionError, match="croco-stereo"):
        load_original(tmp_path / "stereo.pth")
    torch.save({"weights": {}}, tmp_path / "other.pth")
    with pytest.raises(ConversionError, match="no 'model' state dict"):
        load_original(tmp_path / "other.pth")
