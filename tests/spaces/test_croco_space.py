"""The CroCo Space and ``nlv-hf demo``: handler, gradio_client, a real headless Chromium, and the tabbed demo.

Nothing here uses the shipped demo weights: a tiny random CroCo v2 is saved into a temporary folder and passed as the
checkpoint; the example pair is two shifted crops of ``skimage.data.astronaut()``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from browser import chromium_page, click, click_example, serve_blocks, screenshot_is_not_blank, upload, wait_for_image, wait_for_text
from nlv_hf.demo import build_app, discover_spaces, load_space, parse_checkpoints
from nlv_hf.models.croco import CroCoConfig, CroCoForPretraining
from nlv_hf.models.croco.image_processing_croco import CroCoImageProcessor

REPO = Path(__file__).resolve().parents[2]
SPACES = REPO / "spaces"
SIZE, PATCH = 64, 8  # 8x8 = 64 patches
TINY = dict(image_size=SIZE, patch_size=PATCH, encoder_hidden_size=32, encoder_num_hidden_layers=1,
            encoder_num_attention_heads=2, decoder_hidden_size=32, decoder_num_hidden_layers=1,
            decoder_num_attention_heads=2, pos_embed="RoPE100", mask_ratio=0.75)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_croco_space")
    CroCoForPretraining(CroCoConfig(**TINY)).save_pretrained(folder)
    CroCoImageProcessor(patch_size=PATCH, size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE}
                        ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def example_dir(tmp_path_factory) -> Path:
    from skimage.data import astronaut

    image = astronaut()  # 512x512x3 uint8
    folder = tmp_path_factory.mktemp("croco_examples")
    PIL.Image.fromarray(image[80:336, 120:376]).save(folder / "astronaut_1.png")
    PIL.Image.fromarray(image[96:352, 150:406]).save(folder / "astronaut_2.png")
    PIL.Image.fromarray(image[:64, :64]).save(folder / "lonely_1.png")  # no partner: not an example
    return folder


@pytest.fixture(scope="module")
def croco_app():
    return load_space(SPACES / "croco" / "app.py")


SCALE = 4  # the Space enlarges 64-px pictures x4 to reach its display height of 224

def _composite_size():
    return (4 * SIZE * SCALE + 3 * 4, SIZE * SCALE)


def test_examples_and_weights_resolution(croco_app, example_dir, tiny_checkpoint, monkeypatch, tmp_path):
    pairs = croco_app.example_pairs(example_dir)
    assert pairs == [[str(example_dir / "astronaut_1.png"), str(example_dir / "astronaut_2.png")]]
    assert croco_app.example_pairs(tmp_path / "absent") == []
    monkeypatch.delenv(croco_app.ENV_CHECKPOINT, raising=False)
    monkeypatch.setattr(croco_app, "DEFAULT_WEIGHTS", tmp_path / "no_weights")
    assert croco_app.resolve_checkpoint() is None
    monkeypatch.setenv(croco_app.ENV_CHECKPOINT, str(tiny_checkpoint))
    assert croco_app.resolve_checkpoint() == str(tiny_checkpoint)
    assert croco_app.resolve_checkpoint("other") == "other"


def test_space_metadata():
    import yaml

    text = (SPACES / "croco" / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["sdk"] == "gradio" and meta["license"] == "cc-by-nc-sa-4.0" and meta["title"]
    assert (SPACES / "croco" / meta["app_file"]).is_file()
    requirements = (SPACES / "croco" / "requirements.txt").read_text()
    assert "gradio" in requirements and "torch" in requirements


def test_without_weights_the_page_says_so(croco_app, monkeypatch, tmp_path):
    import gradio as gr

    monkeypatch.delenv(croco_app.ENV_CHECKPOINT, raising=False)
    monkeypatch.setattr(croco_app, "DEFAULT_WEIGHTS", tmp_path / "no_weights")
    demo = croco_app.build_demo(examples_dir=tmp_path)
    texts = [c.get("props", {}).get("value") for c in demo.config["components"]]
    assert any(isinstance(t, str) and "No weights found" in t and "--checkpoint" in t for t in texts)
    handler = next(iter(demo.fns.values())).fn
    with pytest.raises(gr.Error, match="No weights found"):
        handler(None, None, 0.5, 0)


def test_gradio_client(croco_app, tiny_checkpoint, example_dir):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    demo = croco_app.build_demo(checkpoint=tiny_checkpoint, examples_dir=example_dir)
    assert not demo.analytics_enabled
    texts = " ".join(str(c.get("props", {}).get("value")) for c in demo.config["components"])
    assert "**Weights:** CroCo v2 (RoPE100)" in texts and str(tiny_checkpoint) in texts
    with serve_blocks(demo) as url:
        client = Client(url, verbose=False)
        image_path, info = client.predict(handle_file(str(example_dir / "astronaut_1.png")),
                                          handle_file(str(example_dir / "astronaut_2.png")), 0.5, 7,
                                          api_name="/reconstruct")
        with pytest.raises(AppError, match="Give two images"):
            client.predict(handle_file(str(example_dir / "astronaut_1.png")), None, 0.5, 7, api_name="/reconstruct")
    composite = PIL.Image.open(image_path)
    assert composite.size == _composite_size()
    assert info.startswith("32 of 64 patches hidden (50 %), seed 7")
    # the third panel is the original first view as the model saw it (resized 256 -> 64), visible patches of the
    # reconstruction (second panel) equal it
    panels = np.asarray(composite.convert("RGB")).astype(int)
    side = SIZE * SCALE
    recon, original = panels[:, side + 4:2 * side + 4], panels[:, 2 * side + 8:3 * side + 8]
    assert (np.abs(recon - original).max(axis=-1) <= 1).mean() >= 0.5


@pytest.mark.browser
def test_browser_upload_run_screenshot(croco_app, tiny_checkpoint, example_dir, tmp_path):
    demo = croco_app.build_demo(checkpoint=tiny_checkpoint, examples_dir=example_dir)
    with chromium_page() as page, serve_blocks(demo) as url:
        page.goto(url, wait_until="networkidle")
        assert "Weights:" in page.locator("#croco_weights").inner_text()
        upload(page, "croco_image_1", example_dir / "astronaut_1.png")
        upload(page, "croco_image_2", example_dir / "astronaut_2.png")
        click(page, "croco_run")
        shown = wait_for_image(page, "croco_output")
        info = wait_for_text(page, "croco_info")
        reason = screenshot_is_not_blank(page, tmp_path / "croco_output.png", elem_id="croco_output")
        page.screenshot(path=str(tmp_path / "croco_page.png"), full_page=True)
        # the example pair loads into both inputs and runs at another mask ratio
        page.locator("#croco_mask_ratio input[type=number]").fill("0.25")
        page.locator("#croco_mask_ratio input[type=number]").press("Enter")
        click_example(page, "croco_examples", 0)
        click(page, "croco_run")
        page.wait_for_function("() => document.querySelector('#croco_info textarea').value.startsWith('16 of 64')",
                               timeout=60000)
        assert page.external_requests == [], f"the page tried to reach the internet: {page.external_requests}"
    assert (shown["width"], shown["height"]) == _composite_size(), reason
    assert "of 64 patches hidden" in info


def test_demo_serves_every_space_as_tabs(tiny_checkpoint, example_dir, tmp_path, capsys):
    from gradio_client import Client, handle_file

    spaces = discover_spaces(SPACES)
    assert "croco" in spaces
    with pytest.raises(ValueError, match="unknown Space 'nope'"):
        build_app(SPACES, {"nope": "x"})
    app = build_app(SPACES, parse_checkpoints([f"croco={tiny_checkpoint}"]))
    tabs = [c["props"] for c in app.config["components"] if c.get("type") == "tabitem"]
    assert {t.get("id") for t in tabs} >= set(spaces)
    with serve_blocks(app) as url:
        image_path, info = Client(url, verbose=False).predict(
            handle_file(str(example_dir / "astronaut_1.png")), handle_file(str(example_dir / "astronaut_2.png")),
            0.25, 0, api_name="/reconstruct")
    assert PIL.Image.open(image_path).size == _composite_size() and info.startswith("16 of 64")

    # a Space that fails to build gets an error tab; the others still run
    broken = tmp_path / "spaces"
    (broken / "broken").mkdir(parents=True)
    (broken / "broken" / "app.py").write_text("def build_demo(checkpoint=None):\n    raise RuntimeError('boom')\n")
    (broken / "notaspace").mkdir()
    (broken / "notaspace" / "app.py").write_text("x = 1\n")
    assert list(discover_spaces(broken)) == ["broken"]
    app = build_app(broken)
    assert any("failed to start" in str(c.get("props", {}).get("value")) and "boom" in str(c["props"]["value"])
               for c in app.config["components"])
    capsys.readouterr()


def test_demo_command_line(monkeypatch):
    from nlv_hf.cli import main

    for bad in (["croco"], ["=x"], ["croco="]):
        with pytest.raises(ValueError, match="SPACE=PATH"):
            parse_checkpoints(bad)
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--checkpoint", "croco"])
    assert exit_info.value.code == 2
    launched = {}
    monkeypatch.setattr("gradio.Blocks.launch", lambda self, **kw: launched.update(kw))
    main(["demo", "--only", "croco", "--port", "7999"])
    assert launched["server_name"] == "127.0.0.1" and launched["server_port"] == 7999


def test_page_quotes_the_measured_held_out_loss(croco_app, tiny_checkpoint, tmp_path):
    import json

    assert croco_app.held_out_note(tiny_checkpoint) == ""  # no measurement: nothing claimed
    (tmp_path / "reconstruction_eval.json").write_text(
        json.dumps({"loss": 0.5, "mean_patch_loss": 0.9, "ratio": 0.55, "num_pairs": 8}))
    assert croco_app.held_out_note(tmp_path) == (
        " Measured on 8 held-out procedural pairs: masked loss 0.500 vs 0.900 for the best constant (mean) patch.")
    shipped = croco_app.DEFAULT_WEIGHTS / "reconstruction_eval.json"
    if shipped.is_file():
        result = json.loads(shipped.read_text())
        assert f"{result['loss']:.3f}" in croco_app.held_out_note(croco_app.DEFAULT_WEIGHTS)
        assert result["loss"] < result["mean_patch_loss"]
