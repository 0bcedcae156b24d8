"""`nlv-hf eval croco-stereo|croco-flow` and the evaluation library on tiny fake data sets in the official format."""

import json

import numpy as np
import PIL.Image
import pytest
import torch
from stereo_flow_fake_data import write_middlebury_2014

from nlv_hf.cli import COMMANDS, main as cli_main
from nlv_hf.data import formats
from nlv_hf.evaluation.stereo_flow import (evaluate_stereo_flow, format_table, load_eval_dataset,
                                           stereo_motorcycle_pair)
from nlv_hf.models.croco import CroCoFlowConfig, CroCoForOpticalFlow, CroCoForStereoMatching, CroCoStereoConfig
from nlv_hf.pipelines.stereo_flow import tiled_prediction

BACKBONE = dict(image_size=(32, 64), encoder_hidden_size=32, encoder_num_hidden_layers=2,
                encoder_num_attention_heads=2, decoder_hidden_size=32, decoder_num_hidden_layers=2,
                decoder_num_attention_heads=2, dpt_layer_dims=(8, 8, 8, 8), dpt_feature_dim=8, dpt_last_dim=8)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def stereo_model(tmp_path_factory):
    torch.manual_seed(0)
    model = CroCoForStereoMatching(CroCoStereoConfig(**BACKBONE)).eval()
    with torch.no_grad():  # a non-trivial output: bias the disparity channel to ~3 px
        model.head.output_head[-1].bias[0] += 3.0
    folder = tmp_path_factory.mktemp("stereo_model")
    model.save_pretrained(folder)
    return model, folder


def test_eval_cli_prints_the_table_on_a_fake_middlebury_tree(tmp_path, stereo_model, capsys):
    assert COMMANDS["eval"] == "nlv_hf.evaluation.stereo_flow:main"
    model, folder = stereo_model
    data = write_middlebury_2014(tmp_path / "mb", num_scenes=2, height=40, width=80)
    out_json = tmp_path / "results.json"
    cli_main(["eval", "croco-stereo", "--dataset", "middlebury", "--data_dir", str(data), "--model", str(folder),
              "--dataset_config", "2014", "--json", str(out_json)])
    table = capsys.readouterr().out
    lines = table.strip().splitlines()
    assert lines[0] == "croco-stereo on middlebury (2014), split train"
    assert lines[1].split() == ["predictor", "EPE", "bad@0.5", "bad@1.0", "bad@2.0", "bad@3.0", "D1"]
    assert [line.split()[0] for line in lines[2:5]] == ["model", "zero", "gt_mean"]
    results = json.loads(out_json.read_text())
    assert results["num_pairs"] == 2
    # independent check: pixel-weighted errors from the files on disk and the tiled predictions
    errors, zero_errors, mean_errors = [], [], []
    for scene in sorted(data.iterdir()):
        gt = formats.read_pfm(scene / "disp0.pfm")
        valid = np.isfinite(gt)
        images = [torch.from_numpy(np.asarray(PIL.Image.open(scene / name), dtype=np.float32))
                  .permute(2, 0, 1)[None] / 255 for name in ("im0.png", "im1.png")]
        pred = tiled_prediction(model, (images[0] - MEAN) / STD, (images[1] - MEAN) / STD).prediction[0, 0].numpy()
        errors.append(np.abs(pred - gt)[valid])
        zero_errors.append(np.abs(gt[valid]))
        mean_errors.append(np.abs(gt[valid] - gt[valid].mean()))
    assert results["model"]["EPE"] == pytest.approx(np.concatenate(errors).mean(), rel=1e-4)
    assert results["model"]["bad@1.0"] == pytest.approx(100 * (np.concatenate(errors) > 1).mean(), rel=1e-4)
    assert results["zero"]["EPE"] == pytest.approx(np.concatenate(zero_errors).mean(), rel=1e-5)
    assert results["gt_mean"]["EPE"] == pytest.approx(np.concatenate(mean_errors).mean(), rel=1e-5)
    assert f"{results['model']['EPE']:.3f}" in lines[2]
    # a stereo data set for a flow model, and a missing data_dir, are clear errors (exit code 2, no traceback)
    flow_folder = tmp_path / "flow_model"
    CroCoForOpticalFlow(CroCoFlowConfig(**BACKBONE)).save_pretrained(flow_folder)
    for argv, message in ((["croco-flow", "--dataset", "middlebury", "--data_dir", str(data), "--model",
                            str(flow_folder)], "stereo data set"),
                          (["croco-stereo", "--dataset", "middlebury", "--model", str(folder)], "--data_dir"),
                          (["croco-stereo", "--dataset", "nope", "--data_dir", str(data), "--model", str(folder)],
                           "unknown stereo/flow dataset")):
        with pytest.raises(SystemExit) as exit_info:
            cli_main(["eval", *argv])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_flow_evaluation_baselines_and_scaling():
    torch.manual_seed(1)
    model = CroCoForOpticalFlow(CroCoFlowConfig(**BACKBONE)).eval()
    data = load_eval_dataset("flow", "procedural", num_pairs=2, height=48, width=80, seed=7)
    results = evaluate_stereo_flow(model, data, tile_batch_size=3)
    assert set(results["model"]) >= {"EPE", "bad@1.0", "bad@3.0", "bad@5.0", "D1", "s0-10", "s10-40"}
    flows = [data[i]["labels"] for i in range(2)]
    zero = torch.cat([f.pow(2).sum(0).sqrt().flatten() for f in flows]).mean()
    mean = torch.cat([(f - f.mean(dim=(1, 2), keepdim=True)).pow(2).sum(0).sqrt().flatten() for f in flows]).mean()
    assert results["zero"]["EPE"] == pytest.approx(float(zero), rel=1e-5)
    assert results["gt_mean"]["EPE"] == pytest.approx(float(mean), rel=1e-5)
    again = evaluate_stereo_flow(model, data, baselines=False, tile_batch_size=1)
    assert set(again) == {"model", "num_pairs"} and again["model"]["EPE"] == pytest.approx(results["model"]["EPE"])
    half = load_eval_dataset("flow", "procedural", num_pairs=1, height=48, width=80, seed=7, scale=0.5)[0]
    assert half["pixel_values"].shape == (3, 24, 40)
    torch.testing.assert_close(half["labels"], flows[0][:, ::2, ::2] * 0.5)  # nearest: every other pixel, halved
    assert "end-point error" in format_table(results, "t")
    with pytest.raises(ValueError, match="motorcycle pair is a stereo pair"):
        load_eval_dataset("flow", "motorcycle")
    with pytest.raises(ValueError, match="non-empty"):
        evaluate_stereo_flow(model, [])


def test_motorcycle_pair_convention():
    from skimage.data import stereo_motorcycle

    pair = stereo_motorcycle_pair()
    left, _, disparity = stereo_motorcycle()
    assert pair["pixel_values"].shape == (3, *left.shape[:2]) and pair["labels"].shape == (1, *disparity.shape)
    assert float(pair["pixel_values"].max()) <= 1.0
    known = np.isfinite(disparity)
    assert 0 < (~known).sum() < known.sum()  # scikit-image marks missing ground truth with +inf
    np.testing.assert_array_equal(torch.isfinite(pair["labels"][0]).numpy(), known & (disparity > 0))
    np.testing.assert_array_equal(pair["labels"][0].numpy()[known], disparity[known])
