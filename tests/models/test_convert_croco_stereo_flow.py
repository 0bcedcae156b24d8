"""The CroCo-Stereo / CroCo-Flow converter: released layout, CLI, Hub export, strictness, wrong files."""

import argparse
import json

import pytest
import torch
from transformers import AutoModel

from fixture_utils import Fixture
from nlv_hf.cli import main
from nlv_hf.conversion import ConversionError
from nlv_hf.models.croco import CroCoForOpticalFlow, CroCoForStereoMatching
from nlv_hf.models.croco.convert_croco_stereo_flow_original import (
    convert_croco_flow_checkpoint,
    load_original,
    parse_criterion,
)

TASKS = {"croco_stereo": ("stereo", "LaplacianLossBounded2()"), "croco_flow": ("flow", "LaplacianLossBounded()")}


def released_layout(fx, task, criterion, **changes):
    """What stereoflow/train.py saves: utils/misc.save_model dict with an argparse.Namespace."""
    args = argparse.Namespace(task=task, croco_args=dict(fx.kwargs), crop=list(fx.meta["tiled_pred"]["crop"]),
                              criterion=criterion, tile_conf_mode=fx.meta["tiled_pred"]["conf_mode"], lr=3e-5,
                              dataset="CREStereo('train')")
    for key, value in changes.items():
        setattr(args, key, value)
    return {"model": dict(fx.state_dict), "optimizer": {}, "args": args, "epoch": 31, "best_so_far": 1.0}


@pytest.fixture(scope="module", params=sorted(TASKS))
def fixture(request, fixtures_root):
    return request.param, Fixture(fixtures_root / request.param)


def test_released_layout_converts_and_reproduces(tmp_path, fixture):
    name, fx = fixture
    task, criterion = TASKS[name]
    torch.save(released_layout(fx, task, criterion), tmp_path / "ckpt.pth")
    model = load_original(tmp_path / "ckpt.pth", task=task)
    assert isinstance(model, CroCoForStereoMatching if task == "stereo" else CroCoForOpticalFlow)
    assert model.config.tile_conf_mode == fx.meta["tiled_pred"]["conf_mode"]
    assert model.config.crop_size == list(fx.meta["tiled_pred"]["crop"])
    with torch.no_grad():
        torch.testing.assert_close(model(fx.io["img1"], fx.io["img2"]).logits, fx.io["pred"], rtol=0, atol=1e-5)


def test_cli_writes_an_auto_loadable_hub_folder(tmp_path, fixtures_root, capsys):
    fx = Fixture(fixtures_root / "croco_stereo")
    torch.save(released_layout(fx, "stereo", "LaplacianLossBounded2()"), tmp_path / "crocostereo.pth")
    out = tmp_path / "out"
    assert main(["convert", "croco-stereo", str(tmp_path / "crocostereo.pth"), str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md",
            "modeling_croco_stereo_flow.py", "layers_dpt.py"} <= names
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "croco_stereo"
    assert config["auto_map"]["AutoModel"] == "modeling_croco_stereo_flow.CroCoForStereoMatching"
    card = (out / "README.md").read_text()
    assert "license: cc-by-nc-sa-4.0" in card and "pipeline_tag: depth-estimation" in card
    assert "crocostereo.pth" in card and "conf_expsigmoid_15_3" in card
    model = AutoModel.from_pretrained(out)
    assert type(model) is CroCoForStereoMatching
    with torch.no_grad():
        torch.testing.assert_close(model(fx.io["img1"], fx.io["img2"]).logits, fx.io["pred"], rtol=0, atol=1e-5)
    # re-export of the converted folder (nlv-hf export)
    assert main(["export", str(out), str(tmp_path / "exported")]) == 0
    assert type(AutoModel.from_pretrained(tmp_path / "exported")) is CroCoForStereoMatching
    # the wrong task is named, without a traceback
    capsys.readouterr()
    assert main(["convert", "croco-flow", str(tmp_path / "crocostereo.pth"), str(tmp_path / "out2")]) == 2
    stderr = capsys.readouterr().err
    assert "use `nlv-hf convert croco-stereo`" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "out2").exists()


def test_from_original_converts_once_and_caches(tmp_path, fixtures_root):
    fx = Fixture(fixtures_root / "croco_flow")
    torch.save(released_layout(fx, "flow", "LaplacianLossBounded()"), tmp_path / "crocoflow.pth")
    model = CroCoForOpticalFlow.from_original(str(tmp_path / "crocoflow.pth"), cache_dir=str(tmp_path / "cache"))
    again = CroCoForOpticalFlow.from_original(str(tmp_path / "crocoflow.pth"), cache_dir=str(tmp_path / "cache"))
    assert len(list((tmp_path / "cache" / "converted" / "croco_stereo_flow").iterdir())) == 1
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])


def test_duplicated_dpt_keys_must_agree_and_strictness(tmp_path, fixtures_root):
    fx = Fixture(fixtures_root / "croco_stereo")
    ckpt = released_layout(fx, "stereo", "LaplacianLossBounded2()")
    ckpt["model"]["head.dpt.act_2_postprocess.0.bias"] = ckpt["model"]["head.dpt.act_2_postprocess.0.bias"] + 1
    torch.save(ckpt, tmp_path / "bad.pth")
    with pytest.raises(ConversionError, match=r"act_2_postprocess.* differ"):
        load_original(tmp_path / "bad.pth")
    ckpt = released_layout(fx, "stereo", "LaplacianLossBounded2()")
    del ckpt["model"]["dec_norm.weight"]
    ckpt["model"]["head.extra"] = torch.zeros(1)
    torch.save(ckpt, tmp_path / "bad2.pth")
    with pytest.raises(ConversionError, match=r"head\.extra"):
        load_original(tmp_path / "bad2.pth")
    # one copy of the aliases is enough
    ckpt = released_layout(fx, "stereo", "LaplacianLossBounded2()")
    ckpt["model"] = {k: v for k, v in ckpt["model"].items() if "act_postprocess." not in k and "layer_rn." not in k}
    torch.save(ckpt, tmp_path / "aliases_only.pth")
    with torch.no_grad():
        out = load_original(tmp_path / "aliases_only.pth")(fx.io["img1"], fx.io["img2"]).logits
    torch.testing.assert_close(out, fx.io["pred"], rtol=0, atol=1e-5)


def test_wrong_files_are_named(tmp_path, fixtures_root):
    fx = Fixture(fixtures_root / "croco_flow")
    torch.save(released_layout(fx, "flow", "L1Loss()"), tmp_path / "l1.pth")
    with pytest.raises(ConversionError, match="predicts 3 channels"):
        load_original(tmp_path / "l1.pth")
    pretrain = {"model": {"mask_token": torch.zeros(1, 1, 8), "enc_norm.weight": torch.zeros(8)},
                "croco_kwargs": {}}
    torch.save(pretrain, tmp_path / "pretrain.pth")
    with pytest.raises(ConversionError, match="convert croco"):
        load_original(tmp_path / "pretrain.pth")
    no_args = {"model": dict(fx.state_dict)}
    torch.save(no_args, tmp_path / "noargs.pth")
    with pytest.raises(ConversionError, match="croco_args"):
        load_original(tmp_path / "noargs.pth")
    with pytest.raises(ConversionError, match="unknown criterion"):
        parse_criterion("__import__('os').system('echo')")
    with pytest.raises(ConversionError, match="image-size"):
        convert_croco_flow_checkpoint(tmp_path / "l1.pth", tmp_path / "o", image_size=224)


def test_criterion_strings():
    assert parse_criterion("LaplacianLossBounded2()") == ("laplacian_bounded2", {})
    assert parse_criterion("LaplacianLossBounded(max_gtnorm=400, a=0.5, b=2.)") == (
        "laplacian_bounded", {"loss_max_gtnorm": 400, "loss_a": 0.5, "loss_b": 2.0})
    assert parse_criterion("LaplacianLoss(100)") == ("laplacian", {"loss_max_gtnorm": 100})
