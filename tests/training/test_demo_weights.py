"""The demo weights shipped in spaces/croco/weights load and do cross-view completion on held-out pairs."""

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoImageProcessor, AutoModelForPreTraining

import nlv_hf  # noqa: F401
from nlv_hf.data.augment import CroCoPairTransform
from nlv_hf.data.multiview import ProceduralPairDataset
from nlv_hf.training.croco_pretrain import ProceduralTransformed, evaluate_reconstruction

WEIGHTS = Path(__file__).resolve().parents[2] / "spaces" / "croco" / "weights"
EXAMPLES = WEIGHTS.parent / "examples"


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run fastest on one thread, and a shared 2-core box does not thrash."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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
    data = ProceduralTransformed(ProceduralPairDataset(8, 144, seed=1, cache=True),
                                 CroCoPairTransform(128, random_crop=False, color_jitter=False))
    paired = evaluate_reconstruction(model, data)
    mismatched = evaluate_reconstruction(model, data, mismatched_second_view=True)
    assert paired["ratio"] < 0.75
    assert mismatched["loss"] > paired["loss"] + 0.2
    recorded = json.loads((WEIGHTS / "reconstruction_eval.json").read_text())
    assert recorded["num_pairs"] == 64 and recorded["ratio"] == pytest.approx(0.598, abs=1e-3)
