"""The Multi-HMR benchmark code paths (CPU set, GPU matrix, stage profile) on a tiny config, in seconds."""

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
        spec = importlib.util.spec_from_file_location("nlv_bench_run_mhr", BENCH / "run.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_case_lists(bench):
    mhr = bench.multi_hmr
    cases = mhr.gpu_cases()
    # ViT-S/B/L x 672/896 + ViT-S 448, each fp32/bf16 x eager/sdpa x compiled or not
    assert len(cases) == 7 * 8
    assert {(c.config, c.image_size) for c in cases} == {("vits", 448)} | {
        (n, s) for n in ("vits", "vitb", "vitl") for s in (672, 896)}
    assert {(c.dtype, c.attn_implementation, c.compiled) for c in cases} == {
        (d, a, c) for d in ("float32", "bfloat16") for a in ("eager", "sdpa") for c in (False, True)}
    assert all(c.num_people == 5 and c.body_model == "smplx" for c in cases)
    cpu = mhr.cpu_cases()
    assert ("vits", 448) in {(c.config, c.image_size) for c in cpu}
    assert all(c.dtype == "float32" and not c.compiled for c in cpu)
    spots = mhr.forced_detections(4, 5)
    assert len(set(spots)) == 5 and all(0 <= r < 4 and 0 <= c < 4 for r, c in spots)
    with pytest.raises(ValueError, match="cannot place"):
        mhr.forced_detections(2, 5)


def test_gpu_matrix_code_path_on_cpu(bench, tmp_path):
    mhr = bench.multi_hmr
    keep = {("float32", "eager", False), ("bfloat16", "sdpa", True)}  # every axis once
    cases = [c for c in mhr.gpu_cases(["vitb"], sizes=(672,)) if (c.dtype, c.attn_implementation, c.compiled) in keep]
    assert len(cases) == 2
    for case in cases:  # Anny: no synthetic SMPL-X file to write (the SMPL-X path differs only in the body model)
        case.config, case.image_size, case.body_model = "tiny", 56, "anny"
    path = mhr.run("cpu", {"tiny": mhr.TINY}, cases, out_dir=tmp_path, warmup=1, iters=2,
                               compile_backend="eager", tag="test", log=lambda *_: None, profiler_top=3)
    payload = json.loads(path.read_text())
    assert payload["benchmark"] == "multi_hmr" and payload["device"]["type"] == "cpu"
    assert {"torch", "transformers", "nlv_hf", "python"} <= set(payload["versions"])
    results = payload["results"]
    assert [(r["dtype"], r["attn_implementation"], r["compiled"]) for r in results] == [
        (c.dtype, c.attn_implementation, c.compiled) for c in cases]
    for r in results:
        assert r["img_per_s"] > 0 and r["latency_ms"] > 0 and r["num_people"] == 5 and r["tokens"] == 16
    eager = results[0]
    assert set(eager["stages_ms"]) == set(mhr.STAGES) and all(v >= 0 for v in eager["stages_ms"].values())
    assert sum(eager["stages_share"].values()) == pytest.approx(1.0)
    assert eager["stages_ms"]["body_model"] > 0 and eager["stages_ms"]["backbone"] > 0
    assert len(eager["top_ops"]) == 3 and "stages_ms" not in results[1]  # compiled: no per-stage hooks
    assert len(payload["profile_summary"]) == 1 and "backbone" in payload["profile_summary"][0]


def test_committed_cpu_results():
    committed = sorted((BENCH / "results").glob("multi_hmr-cpu-*.json"))
    assert committed, "run `python benchmarks/run.py --benchmark multi_hmr --device cpu` and commit its JSON"
    payload = json.loads(committed[-1].read_text())
    results = payload["results"]
    assert ("vits", 448) in {(r["config"], r["image_size"]) for r in results}
    assert all(r["img_per_s"] > 0 and r["num_people"] == 5 for r in results)
    assert all(set(r["stages_share"]) == {"preprocess", "backbone", "head", "body_model", "postprocess"}
               for r in results)
    assert payload["profile_summary"]
    # the ViT-S / ViT-B 672 px model cards quote these numbers
    for stem, config in (("multi-hmr-672-s", "vits"), ("multi-hmr-672-b", "vitb")):
        card = (BENCH.parent / "model_cards" / f"{stem}.md").read_text(encoding="utf-8")
        row = next(r for r in results if (r["config"], r["image_size"]) == (config, 672))
        assert f"{row['latency_ms'] / 1000:.1f} s per image" in card and committed[-1].name in card
