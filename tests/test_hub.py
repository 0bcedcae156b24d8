"""Hub-ready export and the three ways users load it (item 7 of the foundation issue)."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import AutoImageProcessor, AutoModel, AutoModelForPreTraining

import nlv_hf
from nlv_hf.hub import export_model, module_closure, populate_hf_cache
from nlv_hf.models.croco import CroCoConfig, CroCoForPretraining, CroCoModel

REPO_ID = "naver/croco-v2-vitl-base"
TINY = dict(image_size=32, patch_size=8, encoder_hidden_size=32, encoder_num_hidden_layers=2,
            encoder_num_attention_heads=2, decoder_hidden_size=32, decoder_num_hidden_layers=2,
            decoder_num_attention_heads=2, pos_embed="RoPE100")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = CroCoForPretraining(CroCoConfig(**TINY)).eval()
    processor = nlv_hf.CroCoImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                           patch_size=8)
    folder = tmp_path_factory.mktemp("export") / "croco"
    export_model(model, folder, processor=processor, model_id=REPO_ID, source="CroCo_V2_tiny.pth")
    g = torch.Generator().manual_seed(1)
    inputs = (torch.randn(1, 3, 32, 32, generator=g), torch.randn(1, 3, 32, 32, generator=g))
    with torch.no_grad():
        reference = CroCoModel.from_pretrained(folder)(*inputs).last_hidden_state
    return folder, inputs, reference


def test_export_contents(exported):
    folder, _, _ = exported
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= names
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModelForPreTraining"] == "modeling_croco.CroCoForPretraining"
    proc = json.loads((folder / "preprocessor_config.json").read_text())
    assert proc["auto_map"]["AutoImageProcessor"] == "image_processing_croco.CroCoImageProcessor"
    card = (folder / "README.md").read_text()
    assert card.startswith("---") and "license: cc-by-nc-sa-4.0" in card and REPO_ID in card
    # the remote code is self-contained: no file imports nlv_hf
    for py in folder.glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+nlv_hf", py.read_text(), re.M), py.name


def test_closure_only_holds_what_the_model_needs():
    mods = module_closure(["nlv_hf.models.croco.modeling_croco"])
    assert "nlv_hf.models.croco.convert_croco_original" not in mods  # tooling stays out of the remote code
    assert "nlv_hf.layers.rope" in mods


def test_path_1_local_folder_after_import(exported):
    folder, inputs, reference = exported
    model = AutoModel.from_pretrained(folder)
    assert type(model) is CroCoModel
    assert type(AutoModelForPreTraining.from_pretrained(folder)) is CroCoForPretraining
    assert type(AutoImageProcessor.from_pretrained(folder)) is nlv_hf.CroCoImageProcessor
    with torch.no_grad():
        torch.testing.assert_close(model(*inputs).last_hidden_state, reference, rtol=0, atol=0)


def run_fresh(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=300)


def test_path_2_hub_id_from_offline_cache(exported, tmp_path):
    folder, inputs, reference = exported
    cache = tmp_path / "hf_home" / "hub"
    populate_hf_cache(folder, REPO_ID, cache_dir=cache)
    torch.save(inputs, tmp_path / "inputs.pt")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    result = run_fresh(f"""
        import torch, nlv_hf
        from transformers import AutoModel, AutoImageProcessor
        model = AutoModel.from_pretrained("{REPO_ID}")
        proc = AutoImageProcessor.from_pretrained("{REPO_ID}")
        inputs = torch.load(r"{tmp_path / 'inputs.pt'}")
        with torch.no_grad():
            torch.save(model(*inputs).last_hidden_state, r"{tmp_path / 'out.pt'}")
        print(type(model).__name__, type(proc).__name__)
    """, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["CroCoModel", "CroCoImageProcessor"]
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), reference, rtol=0, atol=0)


def test_path_3_remote_code_without_nlv_hf(exported, tmp_path):
    folder, inputs, reference = exported
    torch.save(inputs, tmp_path / "inputs.pt")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    result = run_fresh(f"""
        import sys
        sys.modules["nlv_hf"] = None  # nlv_hf cannot be imported in this process
        try:
            import nlv_hf
            raise SystemExit("nlv_hf is importable")
        except ImportError:
            pass
        import torch
        from transformers import AutoModel, AutoImageProcessor
        model = AutoModel.from_pretrained(r"{folder}", trust_remote_code=True)
        proc = AutoImageProcessor.from_pretrained(r"{folder}", trust_remote_code=True)
        assert model.__class__.__module__.startswith("transformers_modules"), model.__class__.__module__
        inputs = torch.load(r"{tmp_path / 'inputs.pt'}")
        with torch.no_grad():
            torch.save(model(*inputs).last_hidden_state, r"{tmp_path / 'out.pt'}")
        import numpy as np
        batch = proc(np.zeros((40, 50, 3), np.uint8), np.zeros((40, 50, 3), np.uint8))
        print(type(model).__name__, tuple(batch["pixel_values_2"].shape))
    """, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[0] == "CroCoModel"
    torch.testing.assert_close(torch.load(tmp_path / "out.pt"), reference, rtol=0, atol=0)


def test_cli_export_roundtrip(exported, tmp_path):
    folder, inputs, reference = exported
    out = tmp_path / "again"
    result = subprocess.run([sys.executable, "-m", "nlv_hf.cli", "export", str(folder), str(out), "--model-id",
                             REPO_ID], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "config.json").read_text())["architectures"] == ["CroCoForPretraining"]
    with torch.no_grad():
        torch.testing.assert_close(CroCoModel.from_pretrained(out)(*inputs).last_hidden_state, reference)
