"""The CroCo-Stereo/Flow Space: weight resolution, examples, handler, gradio_client and a real headless Chromium.

Nothing here uses the shipped demo weights: tiny random CroCo-Stereo / CroCo-Flow models are saved into a temporary
folder (``stereo/`` and ``flow/``) and passed as the checkpoint. Inputs are small crops so that tiling stays cheap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from browser import chromium_page, click, serve_blocks, screenshot_is_not_blank, upload, wait_for_image, wait_for_text
from nlv_hf.data.visualization import disparity_to_color, flow_to_color
from nlv_hf.demo import build_app, load_space
from nlv_hf.models.croco import CroCoFlowConfig, CroCoForOpticalFlow, CroCoForStereoMatching, CroCoStereoConfig

REPO = Path(__file__).resolve().parents[2]
SPACE = REPO / "spaces" / "croco_stereo_flow"
TINY = dict(encoder_hidden_size=32, encoder_num_hidden_layers=1, encoder_num_attention_heads=2,
            decoder_hidden_size=32, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
            dpt_hooks=[0, 0, 1, 1], dpt_layer_dims=[8, 8, 16, 16], dpt_feature_dim=8, dpt_last_dim=8,
            tile_overlap=0.5)
STEREO_CROP, FLOW_CROP = (64, 96), (64, 64)
HEIGHT, WIDTH = 80, 120  # inputs: 2x2 tiles at overlap 0.5 for both crops


@pytest.fixture(scope="module")
def app():
    return load_space(SPACE / "app.py")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_croco_stereo_flow")
    CroCoForStereoMatching(CroCoStereoConfig(image_size=STEREO_CROP, **TINY)).save_pretrained(folder / "stereo")
    CroCoForOpticalFlow(CroCoFlowConfig(image_size=FLOW_CROP, **TINY)).save_pretrained(folder / "flow")
    return folder


@pytest.fixture(scope="module")
def examples(app, tmp_path_factory) -> list[list[str]]:
    return app.write_examples(tmp_path_factory.mktemp("sf_examples"))


@pytest.fixture(scope="module")
def small_pair(tmp_path_factory) -> tuple[Path, Path]:
    from skimage.data import stereo_motorcycle

    left, right, _ = stereo_motorcycle()
    folder = tmp_path_factory.mktemp("sf_small")
    paths = folder / "left.png", folder / "right.png"
    for path, image in zip(paths, (left, right)):
        PIL.Image.fromarray(image[200:200 + HEIGHT, 300:300 + WIDTH]).save(path)
    return paths


def _array(path) -> np.ndarray:
    return np.asarray(PIL.Image.open(path).convert("RGB"))


def test_examples_are_the_middlebury_pair_and_a_flow_pair(app, examples):
    from skimage.data import stereo_motorcycle

    assert [row[2] for row in examples] == ["stereo", "flow"]
    left, right, _ = stereo_motorcycle()
    np.testing.assert_array_equal(_array(examples[0][0]), left)
    np.testing.assert_array_equal(_array(examples[0][1]), right)
    frame_1, frame_2 = _array(examples[1][0]), _array(examples[1][1])
    assert frame_1.shape == frame_2.shape == (352, 480, 3) and np.abs(frame_1.astype(int) - frame_2).mean() > 5
    assert app.write_examples(Path(examples[0][0]).parent) == examples  # written once, reused


def test_weights_resolution_order(app, tiny_weights, monkeypatch, tmp_path):
    for task in app.TASKS:
        monkeypatch.delenv(app.ENV_CHECKPOINTS[task], raising=False)
    monkeypatch.setattr(app, "DEFAULT_WEIGHTS", tmp_path / "no_weights")
    assert app.resolve_checkpoints() == {"stereo": None, "flow": None}
    # the shipped folder layout, a two-task folder, one model folder (task read from its config), explicit per task
    monkeypatch.setattr(app, "DEFAULT_WEIGHTS", tiny_weights)
    expected = {"stereo": str(tiny_weights / "stereo"), "flow": str(tiny_weights / "flow")}
    assert app.resolve_checkpoints() == expected
    monkeypatch.setattr(app, "DEFAULT_WEIGHTS", tmp_path / "no_weights")
    assert app.resolve_checkpoints(tiny_weights) == expected
    assert app.resolve_checkpoints(tiny_weights / "flow") == {"stereo": None, "flow": expected["flow"]}
    monkeypatch.setenv(app.ENV_CHECKPOINTS["stereo"], "from-env")
    assert app.resolve_checkpoints(tiny_weights / "flow") == {"stereo": "from-env", "flow": expected["flow"]}
    assert app.resolve_checkpoints(tiny_weights, stereo_checkpoint="explicit")["stereo"] == "explicit"
    assert app.task_of("crocoflow_finetune_kitti.pth") == "flow" and app.task_of("x/crocostereo.pth") == "stereo"
    with pytest.raises(ValueError, match="not a CroCo-Stereo / CroCo-Flow model"):
        app.task_of(tmp_path)
    with pytest.raises(ValueError, match="holds a flow model"):
        app.load_models({"stereo": str(tiny_weights / "flow")})


def test_handler_colour_codes_the_pipeline_output(app, tiny_weights, small_pair):
    loaded = app.load_models(app.resolve_checkpoints(tiny_weights), device="cpu")
    assert set(loaded) == {"stereo", "flow"}
    assert "CroCo-Stereo (CroCoForStereoMatching" in loaded["stereo"].description
    description = loaded["stereo"].description
    assert "tiles of 64×96" in description and str(tiny_weights / "stereo") in description
    assert "user-supplied checkpoint" in loaded["stereo"].description
    assert "official NAVER LABS Europe checkpoint (the model of the ETH3D submission" in app.describe(
        loaded["stereo"].pipeline.model, "/models/crocostereo_eth3d.pth")
    left, right = (_array(p) for p in small_pair)
    picture, confidence, info = app.estimate(loaded, left, right, "stereo")
    expected = loaded["stereo"].pipeline(left, right)
    np.testing.assert_array_equal(picture, disparity_to_color(expected["disparity"].numpy()))
    np.testing.assert_array_equal(confidence, disparity_to_color(-expected["confidence"].numpy(), cmap="viridis"))
    assert picture.shape == confidence.shape == (HEIGHT, WIDTH, 3)
    assert info.startswith(f"stereo: {WIDTH}×{HEIGHT} px, 4 tiles of 64×96 (overlap 0.50)")
    picture, _, info = app.estimate(loaded, left, right, "flow", overlap=0.0)
    flow = loaded["flow"].pipeline(left, right, overlap=0.0)["flow"].numpy().transpose(1, 2, 0)
    np.testing.assert_array_equal(picture, flow_to_color(flow))
    assert info.startswith(f"flow: {WIDTH}×{HEIGHT} px, 4 tiles of 64×64 (overlap 0.00)") and "flow magnitude" in info
    # an image smaller than the crop is upscaled to fit it first: one tile
    assert app.tile_count((32, 48), (64, 96), 0.5) == 1 and app.tile_count((40, 50), (64, 96), 0.5) == 2  # 77x96
    with pytest.raises(ValueError, match="same size"):
        app.estimate(loaded, left, right[:-8], "stereo")
    with pytest.raises(ValueError, match="Give two images"):
        app.estimate(loaded, left, None, "flow")
    with pytest.raises(ValueError, match="task must be one of"):
        app.estimate(loaded, left, right, "depth")
    with pytest.raises(ValueError, match="no flow weights"):
        app.estimate({"stereo": loaded["stereo"]}, left, right, "flow")


def test_without_weights_the_page_says_so(app, monkeypatch, tmp_path, examples):
    import gradio as gr

    for task in app.TASKS:
        monkeypatch.delenv(app.ENV_CHECKPOINTS[task], raising=False)
    monkeypatch.setattr(app, "DEFAULT_WEIGHTS", tmp_path / "no_weights")
    demo = app.build_demo(examples_dir=Path(examples[0][0]).parent)
    texts = " ".join(str(c.get("props", {}).get("value")) for c in demo.config["components"])
    assert "no stereo weights" in texts and "no flow weights" in texts and "--stereo-checkpoint" in texts
    handler = next(f.fn for f in demo.fns.values() if f.api_name == "estimate")
    with pytest.raises(gr.Error, match="no stereo weights"):
        handler(None, None, "stereo", 0.5)


def test_space_metadata():
    import yaml

    text = (SPACE / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["sdk"] == "gradio" and meta["license"] == "cc-by-nc-sa-4.0" and meta["title"]
    assert (SPACE / meta["app_file"]).is_file()
    requirements = (SPACE / "requirements.txt").read_text()
    assert all(name in requirements for name in ("gradio", "torch", "scikit-image"))


def test_gradio_client_and_demo_tab(app, tiny_weights, small_pair, examples):
    from gradio_client import Client, handle_file

    demo = app.build_demo(checkpoint=tiny_weights, examples_dir=Path(examples[0][0]).parent)
    assert not demo.analytics_enabled
    with serve_blocks(demo) as url:
        client = Client(url, verbose=False)
        result, confidence, info = client.predict(handle_file(str(small_pair[0])), handle_file(str(small_pair[1])),
                                                  "flow", 0.5, api_name="/estimate")  # 2x3 tiles of 64x64
    assert PIL.Image.open(result).size == PIL.Image.open(confidence).size == (WIDTH, HEIGHT)
    assert info.startswith(f"flow: {WIDTH}×{HEIGHT} px, 6 tiles of 64×64")
    # mounted as a tab of `nlv-hf demo`
    tabbed = build_app(REPO / "spaces", {"croco_stereo_flow": str(tiny_weights)}, only=["croco_stereo_flow"])
    tabs = [c["props"] for c in tabbed.config["components"] if c.get("type") == "tabitem"]
    assert [t.get("id") for t in tabs] == ["croco_stereo_flow"]
    texts = " ".join(str(c.get("props", {}).get("value")) for c in tabbed.config["components"])
    assert "failed to start" not in texts and str(tiny_weights / "flow") in texts


@pytest.mark.browser
def test_browser_upload_run_screenshot(app, tiny_weights, small_pair, examples, tmp_path):
    demo = app.build_demo(checkpoint=tiny_weights, examples_dir=Path(examples[0][0]).parent)
    with chromium_page() as page, serve_blocks(demo) as url:
        page.goto(url, wait_until="networkidle")
        weights = page.locator("#sf_weights").inner_text()
        assert "stereo:" in weights and "flow:" in weights and "tiles of 64×96" in weights
        # the example rows are there (the Middlebury pair loads into both inputs)
        assert page.locator("#sf_examples table tbody tr").count() == 2
        upload(page, "sf_image_1", small_pair[0])
        upload(page, "sf_image_2", small_pair[1])
        click(page, "sf_run")  # default task: stereo
        shown = wait_for_image(page, "sf_output")
        wait_for_image(page, "sf_confidence")
        info = wait_for_text(page, "sf_info")
        reason = screenshot_is_not_blank(page, tmp_path / "sf_output.png", elem_id="sf_output", min_colors=8)
        page.locator("#sf_task label", has_text="flow").click()
        click(page, "sf_run")
        page.wait_for_function("() => document.querySelector('#sf_info textarea').value.startsWith('flow:')",
                               timeout=60000)
        page.screenshot(path=str(tmp_path / "sf_page.png"), full_page=True)
        assert page.external_requests == [], f"the page tried to reach the internet: {page.external_requests}"
    assert (shown["width"], shown["height"]) == (WIDTH, HEIGHT), reason
    assert info.startswith(f"stereo: {WIDTH}×{HEIGHT} px")


def test_official_checkpoint_files_load_by_name_or_stored_task(app, fixtures_root, tmp_path, monkeypatch, small_pair):
    """An official ``crocostereo*.pth`` (the released file layout, built from the golden fixture) is converted on the
    fly and cached; a file with another name gets its task from the stored ``args.task``."""
    import argparse

    from fixture_utils import Fixture

    monkeypatch.setenv("NLV_HF_CACHE", str(tmp_path / "cache"))
    fx = Fixture(fixtures_root / "croco_stereo")
    args = argparse.Namespace(task="stereo", croco_args=dict(fx.kwargs), crop=fx.meta["tiled_pred"]["crop"],
                              criterion="LaplacianLossBounded2()", tile_conf_mode=fx.meta["tiled_pred"]["conf_mode"])
    ckpt = {"model": dict(fx.state_dict), "args": args, "epoch": 0}
    torch.save(ckpt, tmp_path / "crocostereo.pth")
    torch.save(ckpt, tmp_path / "my_run.pth")
    assert app.task_of(tmp_path / "my_run.pth") == "stereo"
    assert app.resolve_checkpoints(tmp_path / "my_run.pth")["stereo"] == str(tmp_path / "my_run.pth")
    loaded = app.load_models({"stereo": str(tmp_path / "crocostereo.pth"), "flow": None}, device="cpu")
    assert "official NAVER LABS Europe checkpoint (the main CroCo-Stereo model" in loaded["stereo"].description
    assert any((tmp_path / "cache" / "converted" / "croco_stereo_flow").iterdir())  # converted once, cached
    left, right = (_array(p) for p in small_pair)
    picture, _, info = app.estimate(loaded, left, right, "stereo", overlap=0.0)
    assert picture.shape == (HEIGHT, WIDTH, 3) and info.startswith("stereo:")
    with pytest.raises(ValueError, match="holds a stereo model"):
        app.load_models({"flow": str(tmp_path / "my_run.pth")})
