"""A converted Multi-HMR folder resolves as ``naver/multi-hmr`` from an offline Hugging Face cache."""

import os
import subprocess
import sys
import textwrap

import torch

from nlv_hf.hub import export_model, populate_hf_cache
from nlv_hf.models.multi_hmr import MultiHMRConfig, MultiHMRForMeshRecovery
from nlv_hf.models.multi_hmr.image_processing_multi_hmr import MultiHMRImageProcessor

REPO_ID = "naver/multi-hmr"
TINY = dict(image_size=56, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, decoder_hidden_size=32,
            decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_head_dim=16,
            decoder_intermediate_size=64, camera_embedding_num_bands=4)


def test_auto_model_from_offline_hub_cache(tmp_path):
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(MultiHMRConfig(**TINY)).eval()
    folder = tmp_path / "export"
    export_model(model, folder, processor=MultiHMRImageProcessor(image_size=56), model_id=REPO_ID,
                 source="multiHMR_tiny.pt")
    assert "license: other" in (folder / "README.md").read_text()
    x = torch.randn(1, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    detections = torch.tensor([[0, 1, 2], [0, 3, 3]])
    with torch.no_grad():
        reference = model(x, detections=detections, compute_meshes=False)
    torch.save((x, detections), tmp_path / "inputs.pt")
    populate_hf_cache(folder, REPO_ID, cache_dir=tmp_path / "hf_home" / "hub")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    code = textwrap.dedent(f"""
        import torch, nlv_hf
        from transformers import AutoModel, AutoImageProcessor
        model = AutoModel.from_pretrained("{REPO_ID}")
        full = nlv_hf.MultiHMRForMeshRecovery.from_pretrained("{REPO_ID}")
        proc = AutoImageProcessor.from_pretrained("{REPO_ID}")
        x, det = torch.load(r"{tmp_path / 'inputs.pt'}")
        with torch.no_grad():
            out = model(x, detections=det)
            out_full = full(x, detections=det, compute_meshes=False)
        torch.save((out.rotvec, out.translation, out_full.rotvec), r"{tmp_path / 'out.pt'}")
        print(type(model).__name__, type(proc).__name__, proc.image_size)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["MultiHMRModel", "MultiHMRImageProcessor", "56"]
    rotvec, translation, rotvec_full = torch.load(tmp_path / "out.pt")
    torch.testing.assert_close(rotvec, reference.rotvec, rtol=0, atol=0)
    torch.testing.assert_close(translation, reference.translation, rtol=0, atol=0)
    torch.testing.assert_close(rotvec_full, reference.rotvec, rtol=0, atol=0)


def test_remote_code_without_nlv_hf(tmp_path):
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(MultiHMRConfig(**TINY)).eval()
    folder = tmp_path / "export"
    export_model(model, folder, processor=MultiHMRImageProcessor(image_size=56))
    x = torch.randn(1, 3, 56, 56, generator=torch.Generator().manual_seed(2))
    torch.save(x, tmp_path / "x.pt")
    with torch.no_grad():
        reference = model.multi_hmr(x, detections=torch.tensor([[0, 1, 1]]))
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    code = textwrap.dedent(f"""
        import sys
        sys.modules["nlv_hf"] = None  # nlv_hf cannot be imported in this process
        import numpy as np, torch
        from transformers import AutoModel, AutoImageProcessor
        model = AutoModel.from_pretrained(r"{folder}", trust_remote_code=True)
        proc = AutoImageProcessor.from_pretrained(r"{folder}", trust_remote_code=True)
        assert model.__class__.__module__.startswith("transformers_modules"), model.__class__.__module__
        inputs = proc(np.zeros((30, 40, 3), np.uint8))
        with torch.no_grad():
            out = model(torch.load(r"{tmp_path / 'x.pt'}"), detections=torch.tensor([[0, 1, 1]]))
        torch.save(out.rotvec, r"{tmp_path / 'rotvec.pt'}")
        print(type(model).__name__, tuple(inputs["pixel_values"].shape))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[0] == "MultiHMRModel"
    torch.testing.assert_close(torch.load(tmp_path / "rotvec.pt"), reference.rotvec, rtol=1e-6, atol=1e-6)
