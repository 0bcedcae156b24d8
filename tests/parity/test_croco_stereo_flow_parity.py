"""Parity of CroCo-Stereo and CroCo-Flow with the upstream code, replaying every recorded call."""

import argparse

import pytest
import torch

from fixture_utils import Fixture, assert_close
from nlv_hf.metrics.stereo_flow import flow_metrics, stereo_metrics
from nlv_hf.models.croco.configuration_croco_stereo_flow import default_dpt_hooks
from nlv_hf.models.croco.convert_croco_stereo_flow_original import (
    collapse_aliases,
    config_from_upstream_args,
    convert_state_dict,
)
from nlv_hf.models.croco.losses_stereo_flow import confidence_loss
from nlv_hf.models.croco.modeling_croco_stereo_flow import CroCoForOpticalFlow, CroCoForStereoMatching
from nlv_hf.pipelines.stereo_flow import tiled_prediction

FIXTURES = {"croco_stereo": ("stereo", "LaplacianLossBounded2()"), "croco_flow": ("flow", "LaplacianLossBounded()")}
COVERED = {"encode_pairs", "decoder_all_blocks", "decoder_last", "dpt_head", "forward", "loss", "metrics",
           "tiled_pred", "tiled_pred_nogt"}


def fixture_args(fx, task, criterion):
    """The ``ckpt['args']`` a training run with the fixture's settings would have stored."""
    return argparse.Namespace(task=task, croco_args=dict(fx.kwargs), crop=fx.meta["tiled_pred"]["crop"],
                              criterion=criterion, tile_conf_mode=fx.meta["tiled_pred"]["conf_mode"])


def load(fixtures_root, name):
    fx = Fixture(fixtures_root / name)
    task, criterion = FIXTURES[name]
    head = fx.meta["head"]
    config = config_from_upstream_args(fixture_args(fx, task, criterion), task, fx.state_dict)
    # the widths are read from the tensors, the hooks follow upstream's rule
    assert config.dpt_hooks == head["kwargs"]["hooks_idx"]
    assert config.dpt_layer_dims == head["kwargs"]["layer_dims"]
    assert (config.dpt_feature_dim, config.dpt_last_dim) == tuple(head["DPTOutputAdapter_overrides"].values())
    cls = CroCoForStereoMatching if task == "stereo" else CroCoForOpticalFlow
    model = cls(config)
    model.load_state_dict(convert_state_dict(fx.state_dict, config), strict=True)
    return fx, model.eval()


@pytest.mark.parametrize("name", FIXTURES)
def test_every_call_is_replayed(fixtures_root, name):
    fx = Fixture(fixtures_root / name)
    assert set(fx.call_names()) <= COVERED, f"calls without a replay: {set(fx.call_names()) - COVERED}"


@pytest.mark.parametrize("name", FIXTURES)
@torch.no_grad()
def test_stereo_flow_parity(fixtures_root, name):
    torch.set_num_threads(1)
    fx, model = load(fixtures_root, name)
    io = fx.io
    assert sum(p.numel() for p in model.parameters()) == fx.meta["num_params"]
    img1, img2 = io["img1"], io["img2"]
    height, width = img1.shape[-2:]

    # encode_pairs: one batched pass, every block of image 1 (last normalised), last of image 2, positions
    enc, enc2, pos1, pos2 = model.encode_pairs(img1, img2)
    names = fx.outputs_of("encode_pairs")
    enc_names = [n for n in names if n.startswith("enc1_block")]
    assert len(enc_names) == len(enc) == model.config.encoder_num_hidden_layers
    for ours, key in zip(enc, enc_names):
        assert_close(ours, io[key], key)
    assert_close(enc2, io["enc2_last"], "enc2_last")
    assert_close(pos1, io["pos1"], "pos1")
    assert_close(pos2, io["pos2"], "pos2")

    # decoder on the recorded encoder outputs (all blocks; last only)
    last_enc = io[enc_names[-1]]
    dec = model.decode(last_enc, io["pos1"], io["enc2_last"], io["pos2"])
    dec_names = fx.outputs_of("decoder_all_blocks")
    assert len(dec_names) == len(dec) == model.config.decoder_num_hidden_layers
    for ours, key in zip(dec, dec_names):
        assert_close(ours, io[key], key)
    assert_close(dec[-1], io["dec_last_only"], "dec_last_only")

    # DPT head on the recorded block outputs
    blocks = [io[k] for k in enc_names] + [io[k] for k in dec_names]
    assert_close(model.head_forward(blocks, (height, width)), io["head_out"], "head_out")

    # full forward
    out = model(img1, img2)
    assert_close(out.logits, io["pred"], "pred")
    channels = model.config.task_channels
    assert_close(out.prediction, io["pred"][:, :channels], "prediction")
    assert_close(out.confidence, io["pred"][:, channels], "confidence")

    # confidence loss on the recorded prediction with inf-marked invalid pixels, and through forward(labels=...)
    gt = io["gt"]
    assert torch.isinf(gt).any()
    pred = io["pred"]
    loss = confidence_loss(pred[:, :channels], gt, pred[:, channels], model.config.loss_type, model.config.loss_a,
                           model.config.loss_b, model.config.loss_max_gtnorm)
    assert_close(loss, io["loss"], "loss")
    assert_close(model(img1, img2, labels=gt).loss, io["loss"], "forward loss")

    # metrics
    metrics = (stereo_metrics if model.config.task == "stereo" else flow_metrics)(pred[:, :channels], gt)
    metric_keys = sorted(k for k in io if k.startswith("metric_"))
    assert metric_keys
    for key in metric_keys:
        ours = metrics[key[len("metric_"):].replace("_at_", "@")]
        assert_close(ours, io[key], key)

    # tiled inference at another size, with and without ground truth
    tile = fx.meta["tiled_pred"]
    assert tuple(model.config.crop_size) == tuple(tile["crop"])
    assert model.config.tile_conf_mode == tile["conf_mode"]
    for tile_batch in (1, 3):
        result = tiled_prediction(model, io["img1_big"], io["img2_big"], labels=io["gt_big"],
                                  overlap=tile["overlap"], tile_batch_size=tile_batch)
        assert_close(result.prediction, io["tiled_pred"], f"tiled_pred (tiles per batch {tile_batch})")
        assert_close(result.loss, io["tiled_loss"], "tiled_loss")
        assert_close(result.confidence, io["tiled_conf"], "tiled_conf")
    nogt = tiled_prediction(model, io["img1_big"], io["img2_big"], overlap=tile["overlap"], tile_batch_size=4)
    assert_close(nogt.prediction, io["tiled_pred_nogt"], "tiled_pred_nogt")
    assert nogt.loss is None


def test_dpt_hook_rule_matches_upstream_table():
    """Upstream: step {8: 3, 12: 4, 24: 8}; hooks = [enc + dec - 1 - i * step for i in 3..0]."""
    assert default_dpt_hooks(24, 12) == [23, 27, 31, 35]
    assert default_dpt_hooks(12, 8) == [10, 13, 16, 19]
    assert default_dpt_hooks(12, 12) == [11, 15, 19, 23]
    assert default_dpt_hooks(2, 3) == [1, 2, 3, 4]  # the fixtures' explicit hooks follow the same pattern


CRITERION_OF = {"eth3d": "LaplacianLoss()", "crocoflow": "LaplacianLossBounded()"}


@pytest.mark.parametrize("name", FIXTURES)
def test_full_size_checkpoints_convert_key_for_key(fixtures_root, name):
    """Every released stereo/flow checkpoint maps key-for-key and shape-for-shape (meta device), with the duplicated
    DPT keys collapsed to one copy and the automatic hooks equal to upstream's."""
    fx = Fixture(fixtures_root / name)
    task = FIXTURES[name][0]
    assert fx.full_size_keys, "full_size_keys.json missing"
    expected_files = 7 if task == "stereo" else 5
    assert len(fx.full_size_keys) == expected_files
    for filename, entry in fx.full_size_keys.items():
        fake = {k: torch.empty(shape, device="meta") for k, shape in entry["keys"].items()}
        criterion = "LaplacianLoss()" if "eth3d" in filename else FIXTURES[name][1]
        args = argparse.Namespace(task=task, croco_args=entry["kwargs"], crop=entry["kwargs"]["img_size"],
                                  criterion=criterion,
                                  tile_conf_mode="conf_expbeta3" if "eth3d" in filename else None)
        config = config_from_upstream_args(args, task, fake)
        assert config.dpt_hooks == entry["head"]["hooks_idx (auto)"], filename
        assert config.num_output_channels == entry["head"]["num_channels"], filename
        assert config.crop_size == list(entry["kwargs"]["img_size"])
        converted = convert_state_dict(fake, config)  # raises on any missing/unexpected key or shape mismatch
        assert len(converted) == len(fake) - entry["num_buffers_in_state_dict"]  # the 18 alias keys collapse
        assert len(collapse_aliases(fake)) == len(converted)
        cls = CroCoForStereoMatching if task == "stereo" else CroCoForOpticalFlow
        with torch.device("meta"):
            model = cls(config)
        assert sum(p.numel() for p in model.parameters()) == entry["num_params"], filename
