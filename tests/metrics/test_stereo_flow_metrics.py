"""EPE, bad-N, D1/Fl: hand-computed cases, invalid pixels, and the upstream StereoMetrics/FlowMetrics numbers."""

import pytest
import torch

from fixture_utils import Fixture, assert_close
from nlv_hf.metrics import (
    StereoFlowDatasetMetrics,
    bad_pixel_rate,
    d1_error,
    endpoint_error,
    flow_metrics,
    stereo_metrics,
)


def test_hand_computed_disparity_metrics():
    gt = torch.tensor([[[[10.0, 10.0, 100.0, float("inf")]]]])  # last pixel invalid
    pred = torch.tensor([[[[10.5, 14.0, 104.0, 0.0]]]])  # errors 0.5, 4, 4
    assert endpoint_error(pred, gt).item() == pytest.approx(8.5 / 3)
    assert bad_pixel_rate(pred, gt, 1.0).item() == pytest.approx(200 / 3)
    assert bad_pixel_rate(pred, gt, 3.0).item() == pytest.approx(200 / 3)
    # D1: error > 3 px AND > 5 % of the true disparity: 4 > 0.5 (yes), 4 > 5 (no)
    assert d1_error(pred, gt).item() == pytest.approx(100 / 3)
    valid = torch.tensor([[[True, False, True, True]]])
    assert endpoint_error(pred, gt, valid=valid).item() == pytest.approx(4.5 / 2)
    metrics = stereo_metrics(pred, gt)
    assert metrics["avgerr"].item() == pytest.approx(8.5 / 3)
    assert metrics["rmse"].item() == pytest.approx(((0.25 + 16 + 16) / 3) ** 0.5)
    assert metrics["bad@0.5"].item() == pytest.approx(200 / 3)  # 0.5 is not > 0.5


def test_hand_computed_flow_metrics_and_reductions():
    gt = torch.zeros(2, 2, 1, 2)
    pred = torch.zeros(2, 2, 1, 2)
    pred[0, :, 0, 0] = torch.tensor([3.0, 4.0])  # EPE 5 at one pixel of image 0
    gt[1, :, 0, 1] = float("inf")  # image 1 has one valid pixel
    pred[1, 0, 0, 0] = 1.0
    assert endpoint_error(pred, gt).item() == pytest.approx(6 / 3)  # pixel-weighted
    assert endpoint_error(pred, gt, reduction="images").item() == pytest.approx((2.5 + 1.0) / 2)  # per image
    metrics = flow_metrics(pred, gt)
    assert metrics["EPE"].item() == pytest.approx(1.75)
    assert metrics["L1err"].item() == pytest.approx((7 / 2 + 1) / 2)
    assert metrics["bad@3.0"].item() == pytest.approx(25.0)
    assert metrics["Fl"].item() == pytest.approx(25.0)  # zero flow: any error > 3 px is an outlier


def test_dataset_metrics_accumulate_pixel_weighted():
    torch.manual_seed(0)
    gt, pred = torch.randn(3, 1, 8, 8) * 4, torch.randn(3, 1, 8, 8) * 4
    gt[0, :, :2] = float("inf")
    acc = StereoFlowDatasetMetrics(thresholds=(1, 3))
    for i in range(3):
        acc.update(pred[i:i + 1], gt[i:i + 1])
    result = acc.compute()
    assert result["EPE"] == pytest.approx(endpoint_error(pred, gt).item(), rel=1e-5)
    assert result["bad@3.0"] == pytest.approx(bad_pixel_rate(pred, gt, 3).item(), rel=1e-5)
    assert result["D1"] == pytest.approx(d1_error(pred, gt).item(), rel=1e-5)
    with pytest.raises(ValueError, match="no valid pixel"):
        StereoFlowDatasetMetrics().compute()


def test_dataset_metrics_speed_bins_and_double_resolution_ground_truth():
    gt = torch.zeros(1, 2, 1, 3)
    gt[0, 0] = torch.tensor([[5.0, 20.0, 50.0]])  # one pixel per speed bin
    pred = gt.clone()
    pred[0, 1] += torch.tensor([[1.0, 2.0, 3.0]])
    acc = StereoFlowDatasetMetrics()
    acc.update(pred, gt)
    result = acc.compute()
    assert (result["s0-10"], result["s10-40"], result["s40+"]) == (1.0, 2.0, 3.0)
    # Spring: ground truth at 2x, each prediction takes its best 2x2 sub-pixel
    pred = torch.zeros(1, 1, 1, 2)
    gt2 = torch.full((1, 1, 2, 4), 7.0)
    gt2[0, 0, 1, 0] = 0.5  # best sub-pixel of pixel 0: error 0.5
    gt2[0, 0, :, 2:] = float("inf")  # pixel 1 has no valid sub-pixel
    acc = StereoFlowDatasetMetrics()
    acc.update(pred, gt2)
    assert acc.num_pixels == 1 and acc.compute()["EPE"] == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["croco_stereo", "croco_flow"])
def test_upstream_metric_values(fixtures_root, name):
    fx = Fixture(fixtures_root / name)
    io = fx.io
    channels = io["gt"].shape[1]
    metrics = (stereo_metrics if channels == 1 else flow_metrics)(io["pred"][:, :channels], io["gt"])
    keys = [k for k in io if k.startswith("metric_")]
    assert keys
    for key in keys:
        assert_close(metrics[key[len("metric_"):].replace("_at_", "@")], io[key], key)


def test_bad_inputs():
    with pytest.raises(ValueError, match="differ in shape"):
        endpoint_error(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
    with pytest.raises(ValueError, match="1 or 2"):
        endpoint_error(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="2-channel"):
        flow_metrics(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="reduction"):
        endpoint_error(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), reduction="mean")
