"""The Multi-HMR Space: checkpoint choice, gradio_client, and a real headless Chromium (overlay + 3D view).

Nothing here uses the shipped demo weights: a tiny random Multi-HMR-Anny and a tiny SMPL-X one (with the synthetic
SMPL-X file) are saved into temporary folders and passed as checkpoints. With random weights the detection threshold
is set to 0 (every local maximum of the heatmap is a person) or just under the best score (one person).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from browser import (chromium_page, click, image_is_not_blank, screenshot_is_not_blank, serve_blocks, upload,
                     wait_for_image, wait_for_text, wait_until)
from nlv_hf.demo import load_space
from nlv_hf.models.multi_hmr import MultiHMRConfig, MultiHMRForMeshRecovery
from nlv_hf.models.multi_hmr.image_processing_multi_hmr import MultiHMRImageProcessor
from nlv_hf.pipelines.mesh_recovery import MeshRecoveryPipeline

pytest.importorskip("anny")

REPO = Path(__file__).resolve().parents[2]
SPACE = REPO / "spaces" / "multi_hmr"
TINY = dict(image_size=56, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, decoder_hidden_size=32,
            decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_head_dim=16,
            decoder_intermediate_size=64, camera_embedding_num_bands=4)
SIDE = 128  # small pictures keep the CPU rasteriser quick


def _export(folder: Path, body_model: str) -> Path:
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(MultiHMRConfig(body_model=body_model, **TINY))
    if body_model == "anny":
        # random weights, but people about 3 m away (depth = focal / exp(raw); the regressed focal is ~28 px at
        # 56 px input): visible in the overlay and in the 3D view instead of specks 28 m away
        last = model.multi_hmr.head.mlp_dist[-1]
        with torch.no_grad():
            last.weight.mul_(0.01)
            last.bias.fill_(math.log(28.0 / 3.0))
    model.save_pretrained(folder)
    MultiHMRImageProcessor(image_size=TINY["image_size"]).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def anny_checkpoint(tmp_path_factory) -> Path:
    return _export(tmp_path_factory.mktemp("tiny_mhr_anny"), "anny")


@pytest.fixture(scope="module")
def smplx_checkpoint(tmp_path_factory) -> Path:
    return _export(tmp_path_factory.mktemp("tiny_mhr_smplx"), "smplx")


@pytest.fixture(scope="module")
def smplx_dir(tmp_path_factory) -> Path:
    from nlv_hf.body.synthetic_smplx import write_synthetic_smplx

    return write_synthetic_smplx(tmp_path_factory.mktemp("smplx"))


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory) -> Path:
    from skimage.data import astronaut

    folder = tmp_path_factory.mktemp("mhr_examples")
    PIL.Image.fromarray(astronaut()).resize((SIDE, SIDE)).save(folder / "astronaut.png")
    return folder


@pytest.fixture(scope="module")
def mhr_app():
    return load_space(SPACE / "app.py")


@pytest.fixture()
def no_env(mhr_app, monkeypatch, tmp_path):
    for name in (mhr_app.ENV_CHECKPOINT, "NLV_SMPLX_DIR", "SMPLX_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(mhr_app, "DEFAULT_WEIGHTS", tmp_path / "no_weights")
    return monkeypatch


def test_checkpoint_choices(mhr_app, no_env, anny_checkpoint, smplx_checkpoint, smplx_dir, tmp_path):
    assert mhr_app.checkpoint_choices() == ([], [])
    # SMPL-X checkpoints are hidden until the SMPL-X files are configured
    choices, hidden = mhr_app.checkpoint_choices([str(anny_checkpoint), str(smplx_checkpoint)])
    assert [c.source for c in choices] == [str(anny_checkpoint)] and hidden == [str(smplx_checkpoint)]
    assert choices[0].description == "ViT 32-d, 56 px, Anny" and choices[0].origin == "argument"
    no_env.setenv("NLV_SMPLX_DIR", str(smplx_dir))
    no_env.setenv(mhr_app.ENV_CHECKPOINT, os.pathsep.join([str(smplx_checkpoint), str(anny_checkpoint)]))
    shipped = _export(tmp_path / "weights", "anny")
    no_env.setattr(mhr_app, "DEFAULT_WEIGHTS", shipped)
    choices, hidden = mhr_app.checkpoint_choices(str(anny_checkpoint))
    assert hidden == [] and [(c.origin, c.body_model) for c in choices] == [
        ("argument", "anny"), ("environment", "smplx"), ("shipped", "anny")]  # the duplicate is listed once
    assert "demo weights" in choices[2].label and "not an official checkpoint" in mhr_app.weights_markdown(choices[2])
    assert "user-supplied checkpoint" in mhr_app.weights_markdown(choices[1])
    assert mhr_app.example_images(SPACE / "examples") == [[str(SPACE / "examples" / "astronaut.jpg")]]


def test_space_metadata():
    import yaml

    text = (SPACE / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["sdk"] == "gradio" and meta["title"] and (SPACE / meta["app_file"]).is_file()
    assert "NLV_SMPLX_DIR" in text and "NLV_MULTI_HMR_CHECKPOINT" in text
    requirements = (SPACE / "requirements.txt").read_text()
    assert all(name in requirements for name in ("gradio", "torch", "anny", "trimesh"))


def test_without_weights_the_page_says_so(mhr_app, no_env, smplx_checkpoint, tmp_path):
    import gradio as gr

    demo = mhr_app.build_demo(checkpoint=str(smplx_checkpoint), examples_dir=tmp_path)
    texts = " ".join(str(c.get("props", {}).get("value")) for c in demo.config["components"])
    assert "No weights found" in texts and "--checkpoint" in texts
    assert "SMPL-X checkpoint(s) hidden" in texts and "NLV_SMPLX_DIR" in texts
    handler = next(fn.fn for fn in demo.fns.values() if fn.name == "recover")
    with pytest.raises(gr.Error, match="No weights found"):
        handler(None, None, 0.3, 3, "auto")


def test_gradio_client(mhr_app, no_env, anny_checkpoint, smplx_checkpoint, smplx_dir, example_dir):
    trimesh = pytest.importorskip("trimesh")
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    no_env.setenv("NLV_SMPLX_DIR", str(smplx_dir))
    demo = mhr_app.build_demo(checkpoint=[str(anny_checkpoint), str(smplx_checkpoint)], examples_dir=example_dir)
    assert not demo.analytics_enabled
    labels = [c.label for c in mhr_app.checkpoint_choices([str(anny_checkpoint), str(smplx_checkpoint)])[0]]
    photo = example_dir / "astronaut.png"
    # the SMPL-X run keeps one person (threshold just under the best score): random SMPL-X triangles are huge
    smplx_pipe = MeshRecoveryPipeline.from_pretrained(smplx_checkpoint, smplx_path=str(smplx_dir))
    best = max(p["score"] for p in smplx_pipe(PIL.Image.open(photo), threshold=0.0).people)
    with serve_blocks(demo) as url:
        client = Client(url, verbose=False)
        overlay, glb, params, json_path, info = client.predict(handle_file(str(photo)), labels[0], 0.0, 3, "auto",
                                                               api_name="/recover")
        weights = client.predict(labels[1], api_name="/select")
        smplx_out = client.predict(handle_file(str(photo)), labels[1], best - 1e-4, 3, "60", api_name="/recover")
        nobody = client.predict(handle_file(str(photo)), labels[0], 1.0, 3, "auto", api_name="/recover")
        with pytest.raises(AppError, match="Upload an image"):
            client.predict(None, labels[0], 0.3, 3, "auto", api_name="/recover")
    count = len(params["people"])
    assert count >= 1 and info.startswith(f"{count} p") and "threshold 0.00" in info
    assert params["metadata"]["body_model"] == "anny" and set(params["people"][0]) == set(mhr_app.JSON_SHOWN)
    assert len(json.loads(Path(json_path).read_text())["people"]) == count
    assert "joints_3d" in json.loads(Path(json_path).read_text())["people"][0]
    drawn = np.asarray(PIL.Image.open(overlay).convert("RGB"))
    assert drawn.shape == (SIDE, SIDE, 3)
    assert (drawn != np.asarray(PIL.Image.open(photo).convert("RGB"))).any(-1).mean() > 0.02  # meshes are drawn
    assert len(trimesh.load(glb, force="scene").geometry) == count
    assert "SMPL-X" in weights and "user-supplied checkpoint" in weights
    s_overlay, s_glb, s_params, _, s_info = smplx_out
    assert len(s_params["people"]) >= 1 and s_params["metadata"]["body_model"] == "smplx"
    assert "field of view 60.0°" in s_info and s_glb and Path(s_glb).stat().st_size > 0
    assert (np.asarray(PIL.Image.open(s_overlay).convert("RGB")) != np.asarray(PIL.Image.open(photo))).any()
    assert nobody[1] is None and nobody[2]["people"] == [] and "lower the threshold" in nobody[4]


@pytest.mark.browser
def test_browser_overlay_and_3d_view(mhr_app, no_env, anny_checkpoint, example_dir, tmp_path):
    demo = mhr_app.build_demo(checkpoint=str(anny_checkpoint), examples_dir=example_dir)
    with chromium_page() as page, serve_blocks(demo) as url:
        page.goto(url, wait_until="networkidle")
        assert "Weights:" in page.locator("#mhr_weights").inner_text()
        assert "Anny" in page.locator("#mhr_weights").inner_text()
        upload(page, "mhr_image", example_dir / "astronaut.png")
        page.locator("#mhr_threshold input[type=number]").fill("0")
        page.locator("#mhr_threshold input[type=number]").press("Enter")
        click(page, "mhr_run")
        shown = wait_for_image(page, "mhr_overlay")
        info = wait_for_text(page, "mhr_info")
        canvas = page.locator("#mhr_model3d canvas").first
        canvas.wait_for(state="visible", timeout=60000)
        reason = screenshot_is_not_blank(page, tmp_path / "overlay.png", elem_id="mhr_overlay")

        def meshes_drawn():  # the GLB is fetched and drawn asynchronously by the WebGL viewer (a few seconds)
            canvas.screenshot(path=str(tmp_path / "model3d.png"))
            shot = PIL.Image.open(tmp_path / "model3d.png")
            # below the component's label and buttons: only what WebGL drew (one flat colour while empty)
            shot.crop((0, 40, shot.width, shot.height)).save(tmp_path / "model3d_canvas.png")
            return image_is_not_blank(tmp_path / "model3d_canvas.png", min_std=2.0, min_colors=64)[0]

        wait_until(meshes_drawn, timeout_s=45, interval_s=0.5)
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        assert page.external_requests == [], f"the page tried to reach the internet: {page.external_requests}"
    assert (shown["width"], shown["height"]) == (SIDE, SIDE), reason
    assert "people at threshold 0.00" in info or "person at threshold 0.00" in info
