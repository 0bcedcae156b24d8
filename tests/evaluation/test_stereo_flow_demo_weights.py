"""The small CroCo-Stereo / CroCo-Flow demo weights shipped in spaces/croco_stereo_flow/weights/: they load, are small,
and their recorded motorcycle numbers are reproduced by the library function."""

import json
from pathlib import Path

import pytest

from nlv_hf.evaluation.stereo_flow import DEFAULT_MODELS, evaluate_stereo_flow, load_eval_dataset, load_model
from nlv_hf.pipelines import StereoFlowPipeline

WEIGHTS = Path(__file__).resolve().parents[2] / "spaces" / "croco_stereo_flow" / "weights"


@pytest.mark.parametrize("task", ["stereo", "flow"])
def test_demo_weights_load_and_are_small(task):
    folder = WEIGHTS / task
    assert DEFAULT_MODELS[task] == folder
    assert (folder / "model.safetensors").stat().st_size < 30 * 2**20
    pipe = StereoFlowPipeline.from_pretrained(str(folder))
    assert pipe.task == task and pipe.model.config.crop_size == [64, 128]
    recorded = json.loads((folder / "stereo_flow_eval.json").read_text())
    assert {"model", "zero", "gt_mean"} <= set(recorded)
    training_md = (WEIGHTS / "TRAINING.md").read_text()
    assert f"{recorded['model']['EPE']:.2f}" in training_md and f"{recorded['zero']['EPE']:.2f}" in training_md


def test_recorded_motorcycle_numbers_are_reproduced():
    recorded = json.loads((WEIGHTS / "stereo" / "motorcycle_eval.json").read_text())["scale_0.25"]
    result = evaluate_stereo_flow(load_model("stereo"), load_eval_dataset("stereo", "motorcycle", scale=0.25))
    for predictor in ("model", "zero", "gt_mean"):
        assert result[predictor]["EPE"] == pytest.approx(recorded[predictor]["EPE"], rel=1e-4)
        assert result[predictor]["bad@3.0"] == pytest.approx(recorded[predictor]["bad@3.0"], abs=0.05)
    assert f"{recorded['model']['EPE']:.2f}" in (WEIGHTS / "TRAINING.md").read_text()
