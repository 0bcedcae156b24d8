"""Tiled full-resolution stereo / flow inference (any size, batched tiles, confidence-weighted blending)."""

import math

import numpy as np
import PIL.Image
import pytest
import torch
from torch.nn import functional as F

from nlv_hf.models.croco import CroCoFlowConfig, CroCoForOpticalFlow, CroCoForStereoMatching, CroCoStereoConfig
from nlv_hf.models.croco.image_processing_croco import CroCoImageProcessor
from nlv_hf.pipelines import StereoFlowPipeline, tiled_prediction, window_offsets

TINY = dict(encoder_hidden_size=32, encoder_num_hidden_layers=2, encoder_num_attention_heads=2,
            decoder_hidden_size=32, decoder_num_hidden_layers=2, decoder_num_attention_heads=2,
            dpt_layer_dims=[8, 8, 16, 16], dpt_feature_dim=8, dpt_last_dim=8)


def tiny(cls=CroCoForStereoMatching, image_size=(64, 128), **kw):
    torch.manual_seed(0)
    config_cls = CroCoStereoConfig if cls is CroCoForStereoMatching else CroCoFlowConfig
    return cls(config_cls(image_size=image_size, **TINY, **kw)).eval()


class CountCalls:
    def __init__(self, model):
        self.batches = []
        model.register_forward_hook(lambda module, args, output: self.batches.append(args[0].shape[0]))


def test_window_offsets_follow_upstream_rule():
    assert window_offsets(176, 128, 0.7) == [0, 24, 48]  # 1 + ceil(48 / 38.4) = 3 windows
    assert window_offsets(128, 128, 0.7) == [0]
    assert window_offsets(1080, 352, 0.7) == np.linspace(0, 728, 1 + math.ceil(728 / (0.3 * 352))).round().astype(
        int).tolist()
    with pytest.raises(ValueError, match="overlap must be in"):
        window_offsets(200, 100, 1.0)


@torch.no_grad()
def test_single_window_equals_the_model():
    model = tiny()
    a, b = torch.randn(2, 3, 64, 128), torch.randn(2, 3, 64, 128)
    result = tiled_prediction(model, a, b)
    out = model(a, b)
    torch.testing.assert_close(result.prediction, out.prediction, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(result.confidence, out.confidence, rtol=1e-6, atol=1e-6)


@torch.no_grad()
def test_full_hd_pair_on_cpu_runs_batched_and_returns_input_resolution():
    model = tiny(image_size=(256, 512))
    calls = CountCalls(model)
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    right = np.roll(left, -4, axis=1)
    pipe = StereoFlowPipeline(model, tile_batch_size=8, overlap=0.3)
    out = pipe(left, right)
    assert out["disparity"].shape == (1080, 1920) and out["confidence"].shape == (1080, 1920)
    assert torch.isfinite(out["disparity"]).all() and torch.isfinite(out["confidence"]).all()
    tiles = len(window_offsets(1080, 256, 0.3)) * len(window_offsets(1920, 512, 0.3))
    assert len(calls.batches) == math.ceil(tiles / 8)  # chunks of windows per forward, not one forward per window
    assert max(calls.batches) == 8


@torch.no_grad()
def test_smaller_than_crop_is_upscaled_then_resized_back():
    model = tiny(CroCoForOpticalFlow)
    a, b = torch.randn(1, 3, 40, 90), torch.randn(1, 3, 40, 90)
    result = tiled_prediction(model, a, b, overlap=0.5)
    assert result.prediction.shape == (1, 2, 40, 90) and result.confidence.shape == (1, 40, 90)
    # reference: upscale so the 64x128 crop fits (factor max(128/90, 64/40) = 1.6), tile, resize back with the flow
    # rescaled by the size ratio per axis
    size = (64, 144)
    a_up, b_up = (F.interpolate(x, size=size, mode="bicubic") for x in (a, b))
    up = tiled_prediction(model, a_up, b_up, overlap=0.5)
    expected = F.interpolate(up.prediction, size=(40, 90), mode="bicubic")
    expected[:, 0] *= 90 / 144
    expected[:, 1] *= 40 / 64
    torch.testing.assert_close(result.prediction, expected, rtol=1e-5, atol=1e-5)


def test_pipeline_pil_lists_ground_truth_and_reload(tmp_path):
    model = tiny(CroCoForOpticalFlow)
    model.save_pretrained(tmp_path / "flow")
    CroCoImageProcessor(do_resize=False, do_center_crop=False, patch_size=1).save_pretrained(tmp_path / "flow")
    pipe = StereoFlowPipeline.from_pretrained(str(tmp_path / "flow"), tile_batch_size=3)
    assert isinstance(pipe.model, CroCoForOpticalFlow)
    rng = np.random.default_rng(1)
    frames = [PIL.Image.fromarray(rng.integers(0, 256, (70, 150, 3), dtype=np.uint8)) for _ in range(4)]
    gt = torch.randn(2, 2, 70, 150)
    gt[:, :, :10] = float("inf")
    out = pipe(frames[:2], frames[2:], ground_truth=gt)
    assert out["flow"].shape == (2, 2, 70, 150) and out["confidence"].shape == (2, 70, 150)
    assert torch.isfinite(out["loss"])
    single = pipe(frames[0], frames[2])
    torch.testing.assert_close(single["flow"], out["flow"][0], rtol=1e-5, atol=1e-5)


def test_bad_inputs_are_named():
    model = tiny()
    pipe = StereoFlowPipeline(model)
    a = np.zeros((64, 128, 3), np.uint8)
    with pytest.raises(ValueError, match="different sizes"):
        pipe(a, np.zeros((64, 96, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        pipe(np.zeros((64, 128), np.uint8), a)
    with pytest.raises(ValueError, match="NaN"):
        tiled_prediction(model, torch.full((1, 3, 64, 128), float("nan")), torch.zeros(1, 3, 64, 128))
    with pytest.raises(ValueError, match="labels must have shape"):
        tiled_prediction(model, torch.zeros(1, 3, 64, 128), torch.zeros(1, 3, 64, 128),
                         labels=torch.zeros(1, 2, 64, 128))
    with pytest.raises(ValueError, match="tile_batch_size"):
        tiled_prediction(model, torch.zeros(1, 3, 64, 128), torch.zeros(1, 3, 64, 128), tile_batch_size=0)
    with pytest.raises(ValueError, match="tile_conf_mode"):
        tiled_prediction(model, torch.zeros(1, 3, 64, 128), torch.zeros(1, 3, 64, 128), conf_mode="mean")
    with pytest.raises(ValueError, match="CroCo-Stereo / CroCo-Flow model"):
        StereoFlowPipeline(torch.nn.Linear(2, 2))


@torch.no_grad()
def test_model_without_confidence_averages_windows_uniformly():
    model = tiny(loss_type="l1")
    a, b = torch.randn(1, 3, 64, 160), torch.randn(1, 3, 64, 160)
    result = tiled_prediction(model, a, b, overlap=0.5, labels=torch.zeros(1, 1, 64, 160))
    assert result.confidence is None and torch.isfinite(result.loss)
    left, right = model(a[..., :128], b[..., :128]).prediction, model(a[..., 32:], b[..., 32:]).prediction
    torch.testing.assert_close(result.prediction[..., :32], left[..., :32], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(result.prediction[..., 32:128], (left[..., 32:] + right[..., :96]) / 2, rtol=1e-5,
                               atol=1e-6)
