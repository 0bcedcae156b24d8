"""The croco-stereo / croco-flow recipes: falling loss, exact resume, pretrained backbone, builder data, 2 processes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from common.launch import launch_two_processes
from nlv_hf.cli import TRAIN_RECIPES, main as cli_main
from nlv_hf.models.croco import CroCoConfig, CroCoForOpticalFlow, CroCoForPretraining, CroCoForStereoMatching
from nlv_hf.training.croco_stereo_flow import StereoFlowModelArguments, build_model, train_croco_stereo_flow

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "--crop_height", "32", "--crop_width", "64", "--render_height", "40", "--render_width", "80",
    "--encoder_hidden_size", "32", "--encoder_num_hidden_layers", "2", "--encoder_num_attention_heads", "2",
    "--decoder_hidden_size", "32", "--decoder_num_hidden_layers", "2", "--decoder_num_attention_heads", "2",
    "--dpt_layer_dims", "8,8,8,8", "--dpt_feature_dim", "8", "--dpt_last_dim", "8", "--max_disparity", "8",
    "--max_motion", "4", "--use_cpu", "true", "--disable_tqdm", "true", "--dataloader_num_workers", "0",
    "--evaluate_after_training", "false", "--num_eval_pairs", "0", "--torch_num_threads", "1",
]


def _log(output_dir, key="loss"):
    state = json.loads(Path(output_dir, "trainer_state.json").read_text())
    return {entry["step"]: entry[key] for entry in state["log_history"] if key in entry}


def test_recipes_are_registered():
    assert TRAIN_RECIPES["croco-stereo"] == "nlv_hf.training.croco_stereo_flow:main_stereo"
    assert TRAIN_RECIPES["croco-flow"] == "nlv_hf.training.croco_stereo_flow:main_flow"


def test_stereo_loss_falls_model_saves_and_is_evaluated(tmp_path):
    out = tmp_path / "run"
    cli_main(["train", "croco-stereo", *TINY, "--output_dir", str(out), "--num_train_pairs", "8", "--cache_pairs",
              "true", "--per_device_train_batch_size", "8", "--max_steps", "30", "--learning_rate", "3e-3",
              "--warmup_steps", "0.1", "--logging_steps", "1", "--save_strategy", "no", "--num_eval_pairs", "2",
              "--evaluate_after_training", "true"])
    losses = list(_log(out).values())
    assert len(losses) == 30 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    model = CroCoForStereoMatching.from_pretrained(out)
    assert model.config.crop_size == [32, 64] and model.config.loss_type == "laplacian_bounded2"
    assert json.loads((out / "preprocessor_config.json").read_text())["do_resize"] is False
    evaluation = json.loads((out / "stereo_flow_eval.json").read_text())
    assert evaluation["num_pairs"] == 2 and set(evaluation) == {"model", "zero", "gt_mean", "num_pairs"}
    assert evaluation["model"]["EPE"] > 0 and evaluation["zero"]["bad@0.5"] == pytest.approx(100.0)


def test_flow_resume_from_checkpoint_is_exact(tmp_path):
    # 12 pairs / batch 4 = 3 steps per epoch: the checkpoint at step 4 is in the middle of the second epoch
    common = [*TINY, "--num_train_pairs", "12", "--cache_pairs", "true", "--per_device_train_batch_size", "4",
              "--max_steps", "6", "--learning_rate", "1e-3", "--warmup_steps", "2", "--logging_steps", "1",
              "--save_strategy", "steps", "--save_steps", "4", "--seed", "3"]
    straight = tmp_path / "straight"
    train_croco_stereo_flow("flow", [*common, "--output_dir", str(straight)])
    resumed = tmp_path / "resumed"
    train_croco_stereo_flow("flow", [*common, "--output_dir", str(resumed),
                                     "--resume_from_checkpoint", str(straight / "checkpoint-4")])
    full, tail = _log(straight), _log(resumed)
    assert sorted(tail) == list(range(1, 7))
    assert [tail[s] for s in (5, 6)] == [full[s] for s in (5, 6)]  # bit-identical loss curve
    assert len(set(full.values())) == 6
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert CroCoForOpticalFlow.from_pretrained(resumed).config.loss_type == "laplacian_bounded"


def test_pretrained_backbone_initialisation(tmp_path):
    croco = CroCoForPretraining(CroCoConfig(image_size=64, patch_size=16, encoder_hidden_size=32,
                                            encoder_num_hidden_layers=2, encoder_num_attention_heads=2,
                                            decoder_hidden_size=24, decoder_num_hidden_layers=3,
                                            decoder_num_attention_heads=2, pos_embed="RoPE100"))
    croco.save_pretrained(tmp_path / "croco")
    args = StereoFlowModelArguments(pretrained=str(tmp_path / "croco"), dpt_layer_dims="8,8,8,8", dpt_feature_dim=8,
                                    dpt_last_dim=8)  # the ViT-L defaults are replaced by the checkpoint's shape
    model = build_model("flow", args, (32, 64))
    assert (model.config.encoder_hidden_size, model.config.decoder_num_hidden_layers) == (32, 3)
    for name in ("encoder", "decoder"):
        mine, theirs = getattr(model, name).state_dict(), getattr(croco.croco, name).state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    cosine = CroCoForPretraining(CroCoConfig(image_size=32, patch_size=16, encoder_hidden_size=32,
                                             encoder_num_hidden_layers=1, encoder_num_attention_heads=2,
                                             decoder_hidden_size=32, decoder_num_hidden_layers=1,
                                             decoder_num_attention_heads=2, pos_embed="cosine"))
    cosine.save_pretrained(tmp_path / "v1")
    with pytest.raises(ValueError, match="RoPE100"):
        build_model("stereo", StereoFlowModelArguments(pretrained=str(tmp_path / "v1")), (32, 64))
    with pytest.raises(ValueError, match="neither"):
        build_model("stereo", StereoFlowModelArguments(pretrained=str(tmp_path / "missing")), (32, 64))


def test_train_on_a_builder_dataset(tmp_path):
    from stereo_flow_fake_data import write_middlebury_2014

    data = write_middlebury_2014(tmp_path / "mb", num_scenes=2, height=40, width=80)
    out = tmp_path / "mb_run"
    train_croco_stereo_flow("stereo", [*TINY, "--dataset", "middlebury", "--data_dir", str(data), "--output_dir",
                                       str(out), "--max_steps", "2", "--per_device_train_batch_size", "2",
                                       "--logging_steps", "1", "--save_strategy", "no"])
    assert len(_log(out)) == 2 and all(np.isfinite(list(_log(out).values())))
    with pytest.raises(ValueError, match="flow data set|stereo data set"):
        train_croco_stereo_flow("flow", [*TINY, "--dataset", "middlebury", "--data_dir", str(data),
                                         "--output_dir", str(tmp_path / "x"), "--max_steps", "1"])
    with pytest.raises(ValueError, match="--data_dir"):
        train_croco_stereo_flow("stereo", [*TINY, "--dataset", "middlebury", "--output_dir", str(tmp_path / "y")])


def test_two_process_accelerate_launch_cpu(tmp_path):
    out = tmp_path / "ddp"
    launch_two_processes("croco-stereo", [*TINY, "--output_dir", str(out), "--max_steps", "2",
           "--per_device_train_batch_size", "2", "--learning_rate", "1e-4", "--warmup_steps", "0",
           "--lr_scheduler_type", "constant", "--logging_steps", "1", "--save_strategy", "no",
           "--num_train_pairs", "8"], cwd=tmp_path)
    losses = _log(out)
    assert sorted(losses) == [1, 2] and all(np.isfinite(list(losses.values())))
    # 8 pairs, 2 per device, 2 processes: one epoch is 2 steps when both processes train
    assert json.loads((out / "trainer_state.json").read_text())["epoch"] == pytest.approx(1.0)
    assert (out / "model.safetensors").is_file()
