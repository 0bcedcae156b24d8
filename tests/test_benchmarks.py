"""The benchmark code paths (CPU and the GPU matrix) on a tiny CroCo config, in seconds."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("nlv_bench_run", BENCH / "run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_gpu_matrix_code_path_on_cpu(bench, tmp_path):
    croco = bench.croco
    cases = croco.gpu_cases(["tiny"], batch_size=2)
    assert len(cases) == 2 * 2 * 2 + 2  # fp32/bf16 x eager/sdpa x compiled or not, + 2 training steps
    assert {(c.mode, c.dtype, c.attn_implementation, c.compiled) for c in cases} == {
        ("forward", d, a, c) for d in ("float32", "bfloat16") for a in ("eager", "sdpa") for c in (False, True)
    } | {("train_step", "bfloat16", "sdpa", c) for c in (False, True)}
    # every axis of the matrix once (the whole matrix on CPU would take most of this suite's time budget)
    keep = {("forward", "float32", "eager", False), ("forward", "bfloat16", "sdpa", True),
            ("train_step", "bfloat16", "sdpa", False)}
    cases = [c for c in cases if (c.mode, c.dtype, c.attn_implementation, c.compiled) in keep]
    for case in cases:
        case.image_size = 32
    path = bench.run("cpu", {"tiny": croco.TINY}, cases, out_dir=tmp_path, warmup=1, iters=2,
                     compile_backend="eager", tag="test", log=lambda *_: None)
    payload = json.loads(path.read_text())
    assert payload["benchmark"] == "croco" and payload["device"]["type"] == "cpu"
    assert {"torch", "transformers", "nlv_hf", "python"} <= set(payload["versions"])
    results = payload["results"]
    assert len(results) == len(cases)
    for r in results:
        assert r["img_per_s"] > 0 and r["ms_per_iter"] > 0 and r["parameters"] > 0
        assert r["memory_kind"] in ("process_peak_rss", "unavailable")
    assert {(r["mode"], r["dtype"], r["attn_implementation"], r["compiled"]) for r in results} == {
        (c.mode, c.dtype, c.attn_implementation, c.compiled) for c in cases}


def test_cpu_cases_and_committed_results(bench):
    croco = bench.croco
    cases = croco.cpu_cases()
    assert {c.config for c in cases} == {"vitb_smalldecoder", "vitl_basedecoder"}
    assert all(c.batch_size == 1 and c.image_size == 224 and c.mode == "forward" for c in cases)
    committed = sorted((BENCH / "results").glob("croco-cpu-*.json"))
    assert committed, "run `make bench` (or python benchmarks/run.py --device cpu) and commit its JSON"
    payload = json.loads(committed[-1].read_text())
    assert {r["config"] for r in payload["results"]} == {"vitb_smalldecoder", "vitl_basedecoder"}
    assert all(r["img_per_s"] > 0 for r in payload["results"])


def test_bad_mode(bench):
    croco = bench.croco
    with pytest.raises(ValueError, match="mode must be"):
        croco.run_case(croco.Case("tiny", "backward", image_size=32), croco.TINY, warmup=0, iters=1)
