"""The demo weights shipped in spaces/croco/weights load and do cross-view completion on held-out pairs."""

import json
from pathlib import Path

import pytest
from transformers import AutoImageProcessor, AutoModelForPreTraining

import nlv_hf  # noqa: F401
from nlv_hf.training.croco_pretrain import evaluate_model_dir

WEIGHTS = Path(__file__).resolve().parents[2] / "spaces" / "croco" / "weights"
EXAMPLES = WEIGHTS.parent / "examples"


def test_files_and_size():
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "TRAINING.md", "train_config.yaml"):
        assert (WEIGHTS / name).is_file(), name
    assert (WEIGHTS / "model.safetensors").stat().st_size < 30 * 2**20
    for k in range(4):
        for view in (1, 2):
            assert (EXAMPLES / f"procedural_{k}_{view}.png").is_file()


def test_loads_through_auto_classes_and_beats_the_mean_patch():
    model = AutoModelForPreTraining.from_pretrained(WEIGHTS)
    processor = AutoImageProcessor.from_pretrained(WEIGHTS)
    assert type(model).__name__ == "CroCoForPretraining" and model.config.pos_embed == "RoPE100"
    assert processor.crop_size == {"height": 128, "width": 128}
    # 8 of the 64 held-out scenes of TRAINING.md: paired views beat the mean patch clearly, mismatched ones do not
    paired = evaluate_model_dir(str(WEIGHTS), num_pairs=8)
    mismatched = evaluate_model_dir(str(WEIGHTS), num_pairs=8, mismatched_second_view=True)
    assert paired["ratio"] < 0.75
    assert mismatched["loss"] > paired["loss"] + 0.2
    recorded = json.loads((WEIGHTS / "reconstruction_eval.json").read_text())
    assert recorded["num_pairs"] == 64 and recorded["ratio"] == pytest.approx(0.598, abs=1e-3)
