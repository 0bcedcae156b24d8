"""Multi-HMR speed benchmark: full single-image inference, images/s and latency.

Full inference = what :class:`nlv_hf.pipelines.mesh_recovery.MeshRecoveryPipeline` does for one 640x480 image:
pre-processing (letterbox, normalise, camera) + DINOv2 backbone + Human Prediction Head + SMPL-X body model +
post-processing (people back in image pixels), with **5 people forced** (teacher-forced detections at fixed
patches) so that the head and the body model see 5 people with random weights. Random weights are fine for speed:
the architecture, not the values, sets the cost. The SMPL-X body model uses the synthetic SMPL-X file (same array
shapes as the licensed one: 10475 vertices, 20908 faces), so it costs what the real one costs.

Cases (``cpu_cases`` / ``gpu_cases``): ViT-S/B/L at 672 and 896 px (the released resolutions) and ViT-S at 448 px
(the paper's real-time configuration), in float32 or bfloat16 weights, ``eager`` or ``sdpa`` attention, eager-mode
PyTorch or ``torch.compile`` (backbone + head; the body model stays eager).

Timing: ``warmup`` untimed runs (they absorb compilation), then the median of ``iters`` timed ones, synchronised.
Profile (eager-mode cases): the same run with timers around each stage -- ``preprocess``, ``backbone``, ``head``
(detection, camera, HPH decoder and regressors), ``body_model`` (SMPL-X forward, placement, projection) and
``postprocess`` -- median per stage over ``iters`` runs; optionally the top operators of ``torch.profiler``.
"""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from croco import _peak_mb, _reset_peak, _sync, environment, load_average, time_calls, write_results  # noqa: F401 - shared device/memory helpers
from nlv_hf.models.multi_hmr import MultiHMRConfig, MultiHMRForMeshRecovery
from nlv_hf.pipelines.mesh_recovery import MeshRecoveryPipeline

# DINOv2 backbones of the released checkpoints (multiHMR_672_S / _B / _L, multiHMR_896_L)
CONFIGS = {
    "vits": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6),
    "vitb": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12),
    "vitl": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16),
}
# for tests: the same code paths in seconds
TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, decoder_hidden_size=32,
            decoder_num_hidden_layers=1, decoder_num_attention_heads=2, decoder_head_dim=16,
            decoder_intermediate_size=64, camera_embedding_num_bands=4)
IMAGE_HW = (480, 640)
NUM_PEOPLE = 5
RESULTS = Path(__file__).resolve().parent / "results"
STAGES = ("preprocess", "backbone", "head", "body_model", "postprocess")


@dataclass
class Case:
    config: str
    image_size: int
    dtype: str = "float32"
    attn_implementation: str = "sdpa"
    compiled: bool = False
    num_people: int = NUM_PEOPLE
    body_model: str = "smplx"


def cpu_cases(configs=("vits", "vitb")) -> list[Case]:
    """Small CPU set (float32, eager-mode PyTorch): ViT-S at 448 px with both attention kernels, then 672 px for
    the given backbones."""
    cases = [Case("vits", 448, "float32", attn) for attn in ("eager", "sdpa")]
    return cases + [Case(name, 672, "float32", "sdpa") for name in configs]


def gpu_cases(configs=tuple(CONFIGS), sizes=(672, 896)) -> list[Case]:
    """GPU matrix: ViT-S/B/L x 672/896 px x fp32/bf16 x eager/sdpa x compiled or not, plus ViT-S at 448 px."""
    grid = [(name, size) for name in configs for size in sizes]
    if "vits" in configs:
        grid.insert(0, ("vits", 448))
    return [Case(name, size, dtype, attn, compiled) for name, size in grid for dtype in ("float32", "bfloat16")
            for attn in ("eager", "sdpa") for compiled in (False, True)]


def forced_detections(grid: int, num_people: int) -> list[tuple[int, int]]:
    """``num_people`` distinct heatmap patches spread over the grid (rows a third of the way down, columns evenly)."""
    if num_people > grid * grid:
        raise ValueError(f"cannot place {num_people} people on a {grid}x{grid} heatmap")
    cells = np.linspace(0, grid * grid - 1, num_people + 2)[1:-1].round().astype(int)
    return [(int(c) // grid, int(c) % grid) for c in cells]


def build_pipeline(case: Case, config_kwargs: dict, device: torch.device, smplx_dir: str) -> MeshRecoveryPipeline:
    config = MultiHMRConfig(body_model=case.body_model, image_size=case.image_size,
                            smplx_path=smplx_dir if case.body_model == "smplx" else None, **config_kwargs)
    torch.manual_seed(0)
    model = MultiHMRForMeshRecovery(config)
    model.set_attn_implementation(case.attn_implementation)
    model = model.to(device=device, dtype=getattr(torch, case.dtype)).eval()
    return MeshRecoveryPipeline(model)


class StageTimer:
    """Times the stages of one pipeline call through forward hooks (backbone, learned model) and a wrapper around
    ``pose_bodies`` (body model); synchronises the device at each boundary."""

    def __init__(self, pipe: MeshRecoveryPipeline, device: torch.device):
        self.device, self.marks, self.handles = device, {}, []
        model = pipe.model
        for name, module in (("backbone", model.multi_hmr.backbone), ("learned", model.multi_hmr)):
            self.handles.append(module.register_forward_pre_hook(self._mark(f"{name}_start")))
            self.handles.append(module.register_forward_hook(self._mark(f"{name}_end", post=True)))
        original = model.pose_bodies

        def timed_pose_bodies(*args, **kwargs):
            self._now("body_start")
            out = original(*args, **kwargs)
            self._now("body_end")
            return out

        model.pose_bodies = timed_pose_bodies
        self._restore = lambda: delattr(model, "pose_bodies")

    def _now(self, key):
        _sync(self.device)
        self.marks[key] = time.perf_counter()

    def _mark(self, key, post=False):
        if post:
            return lambda module, args, output: self._now(key)
        return lambda module, args: self._now(key)

    def stages(self, timings: dict) -> dict:
        m = self.marks
        backbone = m["backbone_end"] - m["backbone_start"]
        body = m.get("body_end", 0.0) - m.get("body_start", 0.0)
        glue = timings["model"] - (m["learned_end"] - m["learned_start"]) - body  # outside the hooked modules
        return {"preprocess": timings["preprocess"], "backbone": backbone,
                "head": m["learned_end"] - m["learned_start"] - backbone + glue,
                "body_model": body, "postprocess": timings["postprocess"]}

    def close(self):
        for handle in self.handles:
            handle.remove()
        self._restore()


def run_case(case: Case, config_kwargs: dict, device: str | torch.device = "cpu", warmup: int = 2, iters: int = 5,
             compile_backend: str = "inductor", profile: bool = True, smplx_dir: str | None = None,
             profiler_top: int = 0) -> dict:
    """Time one case; returns ``asdict(case)`` plus ``img_per_s``, ``latency_ms``, ``peak_memory_mb``, and for
    eager-mode cases ``stages_ms`` / ``stages_share`` (where the time goes)."""
    device = torch.device(device)
    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    with tempfile.TemporaryDirectory(prefix="nlv_bench_smplx_") as tmp:
        if smplx_dir is None and case.body_model == "smplx":
            from nlv_hf.body.synthetic_smplx import write_synthetic_smplx

            smplx_dir = str(write_synthetic_smplx(tmp))
        _reset_peak(device)
        pipe = build_pipeline(case, config_kwargs, device, smplx_dir)
        if case.compiled:
            pipe.model.multi_hmr = torch.compile(pipe.model.multi_hmr, backend=compile_backend)
        image = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (*IMAGE_HW, 3), dtype=np.uint8))
        people = forced_detections(pipe.model.config.grid_size, case.num_people)

        def step():
            return pipe(image, detections=people)

        result, warmup_s, times = time_calls(step, device, warmup, iters)
        peak, memory_kind = _peak_mb(device)
        if len(result.people) != case.num_people:
            raise RuntimeError(f"expected {case.num_people} people, got {len(result.people)} in {case}")
        if not all(torch.isfinite(p["vertices"]).all() for p in result.people):
            raise RuntimeError(f"non-finite vertices in {case}")
        median = statistics.median(times)
        out = asdict(case)
        out.update(img_per_s=1.0 / median, latency_ms=1000 * median, latency_ms_min=1000 * min(times), iters=iters,
                   warmup=warmup, warmup_s=warmup_s, peak_memory_mb=peak, memory_kind=memory_kind,
                   parameters=sum(p.numel() for p in pipe.model.parameters()), tokens=pipe.model.config.grid_size ** 2)
        if profile and not case.compiled:
            timer = StageTimer(pipe, device)
            per_stage = {s: [] for s in STAGES}
            try:
                for _ in range(iters):
                    timer.marks.clear()
                    stages = timer.stages(step().timings)
                    for s in STAGES:
                        per_stage[s].append(stages[s])
            finally:
                timer.close()
            ms = {s: 1000 * statistics.median(v) for s, v in per_stage.items()}
            total = sum(ms.values())
            out.update(stages_ms=ms, stages_share={s: v / total for s, v in ms.items()})
        if profiler_top and not case.compiled:
            out["top_ops"] = top_operators(step, device, profiler_top)
    return out


def run(device: str, configs: dict[str, dict], cases, out_dir: Path = RESULTS, warmup: int = 2, iters: int = 5,
        compile_backend: str = "inductor", tag: str | None = None, log=print, note: str | None = None,
        profiler_top: int = 0, summarize: bool = True) -> Path:
    """Run Multi-HMR ``cases`` (``multi_hmr.Case``) on ``device`` and write one JSON file; returns its path."""
    load_start = load_average()
    results = []
    smplx_tmp = tempfile.TemporaryDirectory(prefix="nlv_bench_smplx_")
    smplx_dir = None
    if any(case.body_model == "smplx" for case in cases):
        from nlv_hf.body.synthetic_smplx import write_synthetic_smplx

        smplx_dir = str(write_synthetic_smplx(smplx_tmp.name))
    for case in cases:
        log(f"[multi_hmr] {device} {case.config} {case.image_size}px {case.dtype} {case.attn_implementation} "
            f"compiled={case.compiled} people={case.num_people} ...")
        result = run_case(case, configs[case.config], device=device, warmup=warmup, iters=iters,
                            compile_backend=compile_backend, profiler_top=profiler_top, smplx_dir=smplx_dir)
        stages = result.get("stages_share")
        log(f"    {result['img_per_s']:.2f} img/s, {result['latency_ms']:.1f} ms"
            + (" (" + ", ".join(f"{k} {100 * v:.0f}%" for k, v in stages.items()) + ")" if stages else ""))
        results.append(result)
    smplx_tmp.cleanup()
    extra = {"load_average_1min_at_end": load_average()}
    if summarize:
        extra["profile_summary"] = profile_summary(results)
    settings = {"warmup": warmup, "iters": iters, "compile_backend": compile_backend,
                "timing": "median of iters after warmup, device synchronised; img/s = 1 / latency (batch 1)",
                "inference": f"MeshRecoveryPipeline on one {IMAGE_HW[1]}x{IMAGE_HW[0]} "
                             "image: preprocess + backbone + head + body model + post-processing, with "
                             "detections forced at fixed patches (num_people), random weights",
                "body_model": "SMPL-X through smplx with the synthetic SMPL-X file (licensed-file shapes)",
                "stages": "eager-mode cases only: median per stage over iters runs with synchronised timers",
                "configs": configs}
    return write_results("multi_hmr", device, out_dir, tag, load_start, note, settings, results, log=log, **extra)




def profile_summary(results: list[dict]) -> list[str]:
    """One line per profiled case: its stages by share of the time, largest first."""
    lines = []
    for r in results:
        if "stages_share" not in r:
            continue
        order = sorted(r["stages_share"].items(), key=lambda kv: -kv[1])
        parts = ", ".join(f"{name} {100 * share:.0f}% ({r['stages_ms'][name]:.0f} ms)" for name, share in order)
        lines.append(f"{r['config']} {r['image_size']}px {r['dtype']} {r['attn_implementation']}: timed median "
                     f"{r['latency_ms']:.0f} ms; profiled runs {sum(r['stages_ms'].values()):.0f} ms = {parts}")
    return lines


def top_operators(step, device: torch.device, top: int) -> list[dict]:
    """The ``top`` operators by self time in one profiled run (``torch.profiler``)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step()
        _sync(device)
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)[:top]
    total = sum(getattr(e, key) for e in prof.key_averages()) or 1.0
    return [{"op": e.key, "self_ms": getattr(e, key) / 1000, "share": getattr(e, key) / total, "calls": e.count}
            for e in events]


__all__ = ["CONFIGS", "Case", "STAGES", "TINY", "cpu_cases", "environment", "forced_detections", "gpu_cases",
           "profile_summary", "run", "run_case"]
