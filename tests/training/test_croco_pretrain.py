"""The croco-pretrain recipe: falling loss, exact resume, --config, data folders, 2-process accelerate launch."""

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from safetensors.torch import load_file

from common.launch import launch_two_processes
from nlv_hf.cli import TRAIN_RECIPES, main as cli_main
from nlv_hf.data.augment import CroCoPairTransform
from nlv_hf.data.multiview import ProceduralPairDataset, render_pair
from nlv_hf.models.croco import CroCoConfig, CroCoForPretraining
from nlv_hf.training.croco_pretrain import (CroCoDataArguments, CroCoModelArguments, ProceduralTransformed,
                                            evaluate_model_dir, evaluate_reconstruction, train_croco_pretrain)
from nlv_hf.training.recipe import parse_recipe_args

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "--crop_size", "32", "--render_size", "40", "--patch_size", "8",
    "--encoder_hidden_size", "32", "--encoder_num_hidden_layers", "2", "--encoder_num_attention_heads", "2",
    "--decoder_hidden_size", "32", "--decoder_num_hidden_layers", "1", "--decoder_num_attention_heads", "2",
    "--pos_embed", "RoPE100", "--use_cpu", "true", "--disable_tqdm", "true", "--dataloader_num_workers", "0",
    "--evaluate_reconstruction", "false", "--num_eval_pairs", "0", "--torch_num_threads", "1",
]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run fastest on one thread, and a shared 2-core box does not thrash."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _losses(output_dir, key="loss"):
    state = json.loads(Path(output_dir, "trainer_state.json").read_text())
    return {entry["step"]: entry[key] for entry in state["log_history"] if key in entry}


def test_recipe_is_registered():
    assert TRAIN_RECIPES["croco-pretrain"] == "nlv_hf.training.croco_pretrain:main"


def test_loss_falls_and_model_saves(tmp_path):
    out = tmp_path / "run"
    cli_main(["train", "croco-pretrain", *TINY, "--output_dir", str(out), "--num_train_pairs", "8",
              "--cache_pairs", "true", "--per_device_train_batch_size", "8", "--max_steps", "40",
              "--learning_rate", "2e-3", "--warmup_steps", "0.1", "--logging_steps", "1", "--save_strategy", "no",
              "--num_eval_pairs", "4", "--evaluate_reconstruction", "true"])
    losses = list(_losses(out).values())
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    model = CroCoForPretraining.from_pretrained(out)
    assert model.config.pos_embed == "RoPE100" and model.config.image_size == [32, 32]
    assert json.loads((out / "preprocessor_config.json").read_text())["crop_size"] == {"height": 32, "width": 32}
    evaluation = json.loads((out / "reconstruction_eval.json").read_text())
    assert evaluation["num_pairs"] == 4 and evaluation["loss"] > 0 and evaluation["mean_patch_loss"] > 0
    # the same numbers from the saved folder (held-out scenes = scene_seed 1, centre crops of renders at 40)
    again = evaluate_model_dir(str(out), num_pairs=4, render_size=40)
    assert again["loss"] == pytest.approx(evaluation["loss"], rel=1e-5)
    assert again["mean_patch_loss"] == pytest.approx(evaluation["mean_patch_loss"], rel=1e-5)


def test_resume_from_checkpoint_is_exact(tmp_path):
    # 12 pairs / batch 4 = 3 steps per epoch: the checkpoint at step 4 is in the middle of the second epoch
    common = [*TINY, "--num_train_pairs", "12", "--per_device_train_batch_size", "4", "--max_steps", "8",
              "--learning_rate", "1e-3", "--warmup_steps", "2", "--logging_steps", "1", "--save_strategy", "steps",
              "--save_steps", "4", "--seed", "3"]
    straight = tmp_path / "straight"
    train_croco_pretrain([*common, "--output_dir", str(straight)])
    resumed = tmp_path / "resumed"
    train_croco_pretrain([*common, "--output_dir", str(resumed),
                          "--resume_from_checkpoint", str(straight / "checkpoint-4")])
    full, tail = _losses(straight), _losses(resumed)
    assert sorted(tail) == list(range(1, 9))  # steps 1-4 come with the checkpoint state
    assert [tail[s] for s in range(5, 9)] == [full[s] for s in range(5, 9)]  # bit-identical loss curve
    assert len(set(full.values())) == 8  # the steps really differ (masks and crops change)
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_config_file_defaults_and_learning_rate_rule(tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text("crop_size: 48\npos_embed: RoPE100\nper_device_train_batch_size: 16\nmax_steps: 3\n")
    types = (CroCoModelArguments, CroCoDataArguments, __import__("transformers").TrainingArguments)
    (model_args, data_args, training_args), explicit = parse_recipe_args(
        types, ["--config", str(config), "--max_steps", "5", "--output_dir", str(tmp_path)],
        defaults={"adam_beta2": 0.95})
    assert data_args.crop_size == 48 and model_args.pos_embed == "RoPE100"
    assert training_args.per_device_train_batch_size == 16 and training_args.max_steps == 5  # CLI wins
    assert training_args.adam_beta2 == 0.95
    assert {"crop_size", "max_steps", "output_dir"} <= explicit and "learning_rate" not in explicit
    _, explicit = parse_recipe_args(types, ["--learning-rate=1e-3", "--no_norm_pix_loss"])
    assert {"learning_rate", "norm_pix_loss"} <= explicit
    # the recipe's upstream defaults
    from nlv_hf.training.croco_pretrain import RECIPE_DEFAULTS

    (model_args, data_args, training_args), _ = parse_recipe_args(types, ["--output_dir", str(tmp_path)],
                                                                  defaults=RECIPE_DEFAULTS)
    assert (model_args.mask_ratio, model_args.norm_pix_loss, data_args.crop_size) == (0.9, True, 224)
    assert (training_args.adam_beta1, training_args.adam_beta2, training_args.weight_decay) == (0.9, 0.95, 0.05)
    assert training_args.lr_scheduler_type == "cosine" and training_args.warmup_steps == 0.1
    scheduler_args = training_args.lr_scheduler_kwargs
    assert scheduler_args["num_cycles"] == pytest.approx(360 / 1520)
    (tmp_path / "bad.json").write_text(json.dumps({"crop_sise": 32}))
    with pytest.raises(ValueError, match="crop_sise"):
        parse_recipe_args(types, ["--config", str(tmp_path / "bad.json")])
    (tmp_path / "bad.txt").write_text("x")
    with pytest.raises(ValueError, match=r"\.yaml, \.yml or \.json"):
        parse_recipe_args(types, ["--config", str(tmp_path / "bad.txt")])
    with pytest.raises(ValueError, match="render_size"):
        train_croco_pretrain([*TINY, "--render_size", "16", "--output_dir", str(tmp_path / "x"), "--max_steps", "1"])


def _pairs_folder(root):
    for i in range(6):
        folder = root / ("val" if i == 5 else "scene") / f"{i:02d}"
        folder.mkdir(parents=True)
        a, b = render_pair(i, 40, supersample=1)
        PIL.Image.fromarray(a).save(folder / "x_1.jpeg")
        PIL.Image.fromarray(b).save(folder / "x_2.jpeg")
    return root


def test_train_from_pairs_folder_and_streaming(tmp_path):
    data = _pairs_folder(tmp_path / "pairs")
    out = tmp_path / "folder_run"
    train_croco_pretrain([*TINY, "--data_dir", str(data), "--output_dir", str(out), "--max_steps", "2",
                          "--per_device_train_batch_size", "2", "--logging_steps", "1", "--save_strategy", "no",
                          "--evaluate_reconstruction", "true"])
    assert len(_losses(out)) == 2
    assert json.loads((out / "reconstruction_eval.json").read_text())["num_pairs"] == 1  # the val/ pair
    out = tmp_path / "stream_run"
    train_croco_pretrain([*TINY, "--data_dir", str(data), "--streaming", "true", "--output_dir", str(out),
                          "--max_steps", "2", "--per_device_train_batch_size", "2", "--logging_steps", "1",
                          "--save_strategy", "no"])
    assert len(_losses(out)) == 2 and (out / "model.safetensors").is_file()
    with pytest.raises(ValueError, match="--streaming needs --max_steps"):
        train_croco_pretrain([*TINY, "--data_dir", str(data), "--streaming", "true", "--output_dir", str(out)])


def test_evaluate_reconstruction_against_oracle_and_constant():
    config = CroCoConfig(image_size=32, patch_size=8, encoder_hidden_size=32, encoder_num_hidden_layers=1,
                         encoder_num_attention_heads=2, decoder_hidden_size=32, decoder_num_hidden_layers=1,
                         decoder_num_attention_heads=2, pos_embed="RoPE100")
    model = CroCoForPretraining(config)
    data = ProceduralTransformed(ProceduralPairDataset(6, 32, seed=9, supersample=1),
                                 CroCoPairTransform(32, random_crop=False, color_jitter=False))

    class Oracle(torch.nn.Module):  # predicts the normalised target exactly, or a constant patch
        def __init__(self, constant=None):
            super().__init__()
            self.config, self.inner, self.constant, self.seen = config, model, constant, []

        def patchify(self, x):
            return model.patchify(x)

        def forward(self, pixel_values, pixel_values_2, noise):
            self.seen.append(pixel_values_2)
            out = model(pixel_values=pixel_values, pixel_values_2=pixel_values_2, noise=noise)
            t = model.patchify(pixel_values)
            t = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1e-6) ** 0.5
            out.logits = t if self.constant is None else self.constant.expand_as(t)
            return out

    perfect = evaluate_reconstruction(Oracle(), data, batch_size=4)
    assert perfect["loss"] < 1e-10 and perfect["ratio"] < 1e-10 and perfect["num_pairs"] == 6
    real = evaluate_reconstruction(model, data, batch_size=4, mask_seed=1)
    assert real["mean_patch_loss"] == pytest.approx(perfect["mean_patch_loss"], rel=0.2)  # other masks, same data
    again = evaluate_reconstruction(model, data, batch_size=3, mask_seed=1)
    assert again["loss"] == pytest.approx(real["loss"], rel=1e-5)  # fixed masks: independent of batching
    paired, shifted = Oracle(), Oracle()
    evaluate_reconstruction(paired, data, batch_size=4)
    mismatched = evaluate_reconstruction(shifted, data, batch_size=4, mismatched_second_view=True)
    assert mismatched["mean_patch_loss"] == pytest.approx(perfect["mean_patch_loss"])  # same targets and masks
    assert torch.equal(torch.cat(shifted.seen), torch.cat(paired.seen).roll(-1, dims=0))  # view 2 of the next pair
    with pytest.raises(ValueError, match="non-empty"):
        evaluate_reconstruction(model, [], batch_size=2)


def test_two_process_accelerate_launch_cpu(tmp_path):
    out = tmp_path / "ddp"
    launch_two_processes("croco-pretrain", [*TINY, "--output_dir", str(out), "--max_steps", "3",
           "--per_device_train_batch_size", "2", "--base_learning_rate", "0.0128", "--warmup_steps", "0",
           "--lr_scheduler_type", "constant", "--logging_steps", "1", "--save_strategy", "no",
           "--num_train_pairs", "16"], cwd=tmp_path)
    losses = _losses(out)
    assert sorted(losses) == [1, 2, 3] and all(np.isfinite(list(losses.values())))
    # lr = base_learning_rate x global batch / 256 = 0.0128 x (2 x 2 processes) / 256: two processes trained
    assert all(lr == pytest.approx(2e-4) for lr in _losses(out, "learning_rate").values())
    assert (out / "model.safetensors").is_file()
