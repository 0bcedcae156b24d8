"""The multi-hmr recipe: collator, falling loss, mesh terms, evaluation, exact resume, 2-process accelerate launch."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from common.launch import launch_two_processes
from nlv_hf.cli import TRAIN_RECIPES, main as cli_main
from nlv_hf.models.multi_hmr import MultiHMRForMeshRecovery
from nlv_hf.training.multi_hmr import (MultiHMRCollator, MultiHMRDataArguments, MultiHMRModelArguments,
                                       build_datasets, build_model, evaluate_mesh_recovery,
                                       evaluate_template_baseline, loss_weights,
                                       train_multi_hmr)

REPO = Path(__file__).resolve().parents[2]
MODEL = dict(image_size=56, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, decoder_hidden_size=32,
             decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_head_dim=16,
             decoder_intermediate_size=64)
BASE = [item for k, v in MODEL.items() for item in (f"--{k}", str(v))] + [
    "--use_cpu", "true", "--disable_tqdm", "true", "--dataloader_num_workers", "0", "--torch_num_threads", "1",
    "--cache_samples", "true", "--evaluate_mesh_recovery", "false", "--num_eval_samples", "0",
]
TINY = BASE + ["--alpha_j3d", "0", "--alpha_v3d", "0", "--alpha_j2d", "0", "--alpha_v2d", "0"]  # Anny meshes: slow


def _losses(output_dir, key="loss"):
    state = json.loads(Path(output_dir, "trainer_state.json").read_text())
    return {entry["step"]: entry[key] for entry in state["log_history"] if key in entry}


def _record(h, w, centres, depths, k=None):
    n = len(centres)
    k = torch.tensor([[50.0, 0, w / 2], [0, 50.0, h / 2], [0, 0, 1]]) if k is None else k
    translation = torch.tensor([[0.0, 0.0, d] for d in depths])
    joints = translation[:, None].repeat(1, 3, 1)
    joints[:, 0, 2] += 0.5  # "pelvis" 0.5 m behind the centre joint
    return {"image": np.full((h, w, 3), 128, np.uint8), "K": k, "centers_2d": torch.tensor(centres),
            "translation": translation, "rotvec": torch.zeros(n, 4, 3), "betas": torch.rand(n, 11),
            "joints_3d": joints, "vertices": joints.clone()}


def test_recipe_is_registered():
    assert TRAIN_RECIPES["multi-hmr"] == "nlv_hf.training.multi_hmr:main"


def test_collator_letterbox_cells_and_depth_rule():
    # a 28x56 image letterboxed into 56x56: scale 1, 14 pixels of padding on top and bottom
    rec = _record(28, 56, [[7.0, 7.0], [9.0, 10.0], [40.0, 20.0], [70.0, 5.0]], [3.0, 2.0, 4.0, 5.0])
    rec2 = _record(56, 56, [[30.0, 30.0]], [6.0])
    batch = MultiHMRCollator(56, 14, "anny")([rec, rec2])
    labels = batch["labels"]
    assert batch["pixel_values"].shape == (2, 3, 56, 56)
    assert torch.allclose(batch["intrinsics"][0], torch.tensor([[50.0, 0, 28], [0, 50.0, 28], [0, 0, 1]]))
    # people 0 and 1 share the patch (row 1, column 0): the nearer (person 1, 2 m) is kept; person 3 is outside
    assert labels["detections"].tolist() == [[0, 1, 0], [0, 2, 2], [1, 2, 2]]
    assert labels["centers_2d"].tolist() == [[9.0, 24.0], [40.0, 34.0], [30.0, 30.0]]
    assert labels["depth"].tolist() == [2.0, 4.0, 6.0]  # Anny: depth of the centre joint
    assert labels["vertices"].shape == (3, 3, 3) and labels["fov"].shape == (2,)
    assert labels["fov"][0].item() == pytest.approx(2 * math.atan(28 / 50))
    smplx = MultiHMRCollator(56, 14, "smplx", with_meshes=False)([rec, rec2])["labels"]
    assert smplx["depth"].tolist() == [2.5, 4.5, 6.5]  # SMPL-X: pelvis depth (upstream)
    assert "vertices" not in smplx and "joints_3d" not in smplx
    with pytest.raises(ValueError, match="multiple of patch_size"):
        MultiHMRCollator(50, 14)


def test_model_loss_with_mesh_terms_teacher_forced():
    torch.manual_seed(0)
    data = MultiHMRDataArguments(num_train_samples=2, num_eval_samples=0, max_people=2)
    train, _ = build_datasets(data, 56, "anny")
    model = build_model(MultiHMRModelArguments(**MODEL))
    model.train()
    model.loss_weights = loss_weights(data, epoch=10)  # every term on
    batch = MultiHMRCollator(56, 14, "anny")([train[0], train[1]])
    out = model(**batch)
    assert torch.equal(out.detections, batch["labels"]["detections"])  # teacher forcing
    assert set(out.loss_terms) == {"bce", "offset", "rotmat", "shape", "dist", "transl", "fov", "j3d", "v3d", "j2d",
                                   "v2d"}
    assert all(torch.isfinite(v) for v in out.loss_terms.values())
    assert out.loss.item() == pytest.approx(sum(model.loss_weights[k] * v.item() for k, v in out.loss_terms.items()),
                                            rel=1e-5)
    out.loss_terms["v3d"].backward()
    assert model.multi_hmr.backbone.embeddings.patch_embeddings.projection.weight.grad.abs().sum() > 0
    # before epoch start_2d_epoch the 2D terms are off (upstream schedule)
    assert loss_weights(data, epoch=0)["j2d"] == 0.0 and loss_weights(data, epoch=10)["j2d"] == 1.0


def test_loss_falls_model_saves_and_evaluates(tmp_path):
    out = tmp_path / "run"
    cli_main(["train", "multi-hmr", *TINY, "--output_dir", str(out), "--num_train_samples", "4",
              "--per_device_train_batch_size", "4", "--max_steps", "30", "--learning_rate", "1e-3",
              "--logging_steps", "1", "--save_strategy", "no", "--num_eval_samples", "2",
              "--evaluate_mesh_recovery", "true", "--max_people", "2"])
    losses = list(_losses(out).values())
    assert len(losses) == 30 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    model = MultiHMRForMeshRecovery.from_pretrained(out)
    assert model.config.body_model == "anny" and model.config.image_size == 56
    assert json.loads((out / "preprocessor_config.json").read_text())["image_size"] == 56
    result = json.loads((out / "mesh_recovery_eval.json").read_text())
    assert result["num_images"] == 2 and 0.0 <= result["detection_recall"] <= 1.0
    # teacher-forced: every GT person is evaluated, errors are finite and the same numbers come back
    data = MultiHMRDataArguments(num_train_samples=1, num_eval_samples=2, max_people=2)
    _, held_out = build_datasets(data, 56, "anny")
    forced = evaluate_mesh_recovery(model, held_out, teacher_forced=True)
    assert forced["detection_recall"] == 1.0 and forced["num_matched"] == forced["num_people"] > 0
    assert all(np.isfinite(forced[k]) and forced[k] > 0 for k in ("mpjpe", "pa_mpjpe", "pve"))
    assert forced["pa_mpjpe"] <= forced["mpjpe"] + 1e-3
    assert evaluate_mesh_recovery(model, held_out, teacher_forced=True)["pve"] == pytest.approx(forced["pve"])
    # the template baseline (rest pose, neutral shape) on the same people
    base = evaluate_template_baseline(model, held_out)
    assert base["num_people"] == forced["num_people"] and base["mpjpe"] > 10 and base["pve"] > 10
    assert base["pa_mpjpe"] < base["mpjpe"]


def test_resume_from_checkpoint_is_exact(tmp_path):
    common = [*TINY, "--num_train_samples", "6", "--per_device_train_batch_size", "2", "--max_steps", "6",
              "--learning_rate", "1e-3", "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", "3",
              "--seed", "3", "--max_people", "2"]
    straight = tmp_path / "straight"
    train_multi_hmr([*common, "--output_dir", str(straight)])
    resumed = tmp_path / "resumed"
    train_multi_hmr([*common, "--output_dir", str(resumed), "--resume_from_checkpoint",
                     str(straight / "checkpoint-3")])
    full, tail = _losses(straight), _losses(resumed)
    assert [tail[s] for s in range(4, 7)] == [full[s] for s in range(4, 7)]
    assert len(set(full.values())) == 6
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_process_accelerate_launch_cpu(tmp_path):
    out = tmp_path / "ddp"
    launch_two_processes("multi-hmr", [*TINY, "--output_dir", str(out), "--max_steps", "2",
           "--per_device_train_batch_size", "1", "--logging_steps", "1", "--save_strategy", "no",
           "--num_train_samples", "4", "--max_people", "2"], cwd=tmp_path)
    losses = _losses(out)
    assert sorted(losses) == [1, 2] and all(np.isfinite(list(losses.values())))
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["train_batch_size"] == 1 and (out / "model.safetensors").is_file()
    # 2 processes x batch 1: the epoch of 4 samples is 2 steps long
    assert state["log_history"][-1]["epoch"] == pytest.approx(1.0)


def test_train_smplx_from_bedlam_folder(tmp_path):
    sys.path.insert(0, str(REPO / "tests" / "data"))
    from test_multi_hmr_people import _bedlam

    from nlv_hf.body.synthetic_smplx import write_synthetic_smplx

    smplx_dir = write_synthetic_smplx(tmp_path / "smplx").parent
    root = _bedlam(tmp_path / "bedlam")
    out = tmp_path / "smplx_run"
    train_multi_hmr([*BASE, "--body_model", "smplx", "--data_dir", str(root), "--smplx_path", str(smplx_dir),
                     "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "2",
                     "--logging_steps", "1", "--save_strategy", "no", "--start_2d_epoch", "0",
                     "--evaluate_mesh_recovery", "true"])
    losses = _losses(out)
    assert sorted(losses) == [1, 2] and all(np.isfinite(list(losses.values())))
    config = json.loads((out / "config.json").read_text())
    assert config["body_model"] == "smplx" and not config.get("smplx_path")
    result = json.loads((out / "mesh_recovery_eval.json").read_text())  # the validation split
    assert result["num_images"] == 1 and result["num_people"] == 1
