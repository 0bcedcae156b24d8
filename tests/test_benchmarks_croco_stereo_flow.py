"""The full-HD tiled stereo benchmark: the GPU matrix code path on CPU with a tiny config, stage timing, results."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("nlv_bench_croco_stereo_flow", BENCH / "croco_stereo_flow.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("nlv_bench_croco_stereo_flow", None)
        sys.path.remove(str(BENCH))


def test_gpu_matrix_code_path_on_cpu(bench, tmp_path):
    cases = bench.gpu_cases(["tiny"], tile_batch_size=4)
    assert {(c.dtype, c.attn_implementation, c.compiled) for c in cases} == {
        (d, a, c) for d in ("float32", "bfloat16") for a in ("eager", "sdpa") for c in (False, True)}
    assert all(c.image_size == (1080, 1920) and c.crop_size == (352, 704) and c.overlap == 0.7 for c in cases)
    assert cases[0].tiles == 8 * 7  # 1 + ceil(728 / 105.6) rows x 1 + ceil(1216 / 211.2) columns
    # every axis of the matrix once, at a size where the tiny model runs in a blink
    keep = [c for c in cases if (c.dtype, c.attn_implementation, c.compiled) in
            {("float32", "eager", False), ("bfloat16", "sdpa", True)}]
    for case in keep:
        case.image_size, case.crop_size, case.overlap = (96, 160), (64, 64), 0.5
    path = bench.run("cpu", {"tiny": bench.TINY}, keep, tmp_path, warmup=1, iters=1, compile_backend="eager",
                     tag="test", log=lambda *_: None)
    payload = json.loads(path.read_text())
    assert payload["benchmark"] == "croco_stereo_flow" and payload["device"]["type"] == "cpu"
    assert {"torch", "transformers", "nlv_hf", "python", "cuda"} <= set(payload["versions"])
    results = payload["results"]
    assert [(r["dtype"], r["attn_implementation"], r["compiled"]) for r in results] == [
        ("float32", "eager", False), ("bfloat16", "sdpa", True)]
    for r in results:
        assert r["tiles"] == 2 * 4 and r["forward_passes"] == 2  # 1 + ceil(32/32) rows, 1 + ceil(96/32) columns
        assert r["ms_per_pair"] > 0 and r["parameters"] > 0
        assert set(r["stage_ms"]) == {"windowing", "forward", "blending", "resize"}
        assert r["stage_ms"]["forward"] > 0 and r["stage_ms"]["windowing"] > 0 and r["stage_ms"]["blending"] > 0
        assert r["stage_ms"]["resize"] == 0  # the image is larger than the crop
        assert r["meets_target"] is None  # the 250 ms target is for bf16 on CUDA


def test_stage_timer_sees_every_stage_and_changes_nothing(bench):
    from nlv_hf.pipelines.stereo_flow import tiled_prediction

    case = bench.Case("tiny", image_size=(40, 48), crop_size=(64, 64), overlap=0.5, tile_batch_size=3)
    model = bench.build_model(bench.TINY, case, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    left, right = torch.randn(2, 1, 3, 40, 48, generator=generator)
    timer = bench.StageTimer(torch.device("cpu"))
    timed = tiled_prediction(model, left, right, stage_timer=timer)
    plain = tiled_prediction(model, left, right)
    assert torch.equal(timed.prediction, plain.prediction) and torch.equal(timed.confidence, plain.confidence)
    assert set(timer.seconds) == {"resize", "windowing", "forward", "blending"}  # smaller than the crop: resized
    assert all(v > 0 for v in timer.seconds.values())


def test_committed_cpu_results(bench):
    committed = sorted((BENCH / "results").glob("croco_stereo_flow-cpu-*.json"))
    assert committed, "run `python benchmarks/run.py --suite croco_stereo_flow --device cpu` and commit its JSON"
    payload = json.loads(committed[-1].read_text())
    assert payload["benchmark"] == "croco_stereo_flow" and payload["device"]["type"] == "cpu"
    expected = {(c.config, c.attn_implementation, tuple(c.image_size)) for c in bench.cpu_cases()}
    assert {(r["config"], r["attn_implementation"], tuple(r["image_size"])) for r in payload["results"]} == expected
    for r in payload["results"]:
        assert r["ms_per_pair"] > 0 and r["stage_ms"]["forward"] > 0
        assert r["parameters"] == 139_403_682  # crocostereo_subtrain_vitb_smalldecoder.pth's architecture
