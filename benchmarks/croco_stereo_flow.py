"""CroCo-Stereo full-HD latency: one 1920×1080 pair through tiled inference, with per-stage times.

What is timed: ``nlv_hf.pipelines.stereo_flow.tiled_prediction`` on normalised B=1 inputs already on the device (the
pipeline's own hot path; image decoding and normalisation are left out), a ``CroCoForStereoMatching`` with random
weights at the released crop (ViT-L/Base: ``crocostereo.pth``'s architecture, 352×704), windows batched
``tile_batch_size`` at a time, upstream's default overlap 0.7 (56 windows for full HD).

Stages (``tiled_prediction(stage_timer=...)``; device-synchronised at each stage boundary, so the sum is slightly
above the unsynchronised total): ``windowing`` (window offsets, accumulators, gathering the crops of both images and
casting them to the model dtype), ``forward`` (the model on a batch of crops), ``blending`` (confidence weights,
``index_add_`` scatter, final normalisation), ``resize`` (only for images smaller than the crop). ``ms_per_pair`` is
timed separately, without stage synchronisation.

GPU matrix (``gpu_cases``): float32 vs bfloat16 weights × ``eager`` vs ``sdpa`` attention × eager PyTorch vs
``torch.compile``. Target on one H100: ≤ 250 ms per pair in bfloat16 (``meets_target`` in the JSON). CPU
(``cpu_cases``): a reduced setting (ViT-B/Small, 192×352 windows on a 480×270 pair, 4 windows) that
finishes in minutes.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from nlv_hf.models.croco import CroCoForStereoMatching, CroCoStereoConfig
from nlv_hf.pipelines.stereo_flow import tiled_prediction, window_offsets

import croco  # benchmarks/croco.py: environment() and the memory helpers

CONFIGS = {
    # crocostereo.pth and its fine-tunes (ViT-L encoder, Base decoder)
    "vitl_base_stereo": dict(encoder_hidden_size=1024, encoder_num_hidden_layers=24, encoder_num_attention_heads=16,
                             decoder_hidden_size=768, decoder_num_hidden_layers=12, decoder_num_attention_heads=12),
    # crocostereo_subtrain_vitb_smalldecoder.pth
    "vitb_small_stereo": dict(encoder_hidden_size=768, encoder_num_hidden_layers=12, encoder_num_attention_heads=12,
                              decoder_hidden_size=512, decoder_num_hidden_layers=8, decoder_num_attention_heads=16),
}
# for tests: the same code paths in seconds
TINY = dict(encoder_hidden_size=32, encoder_num_hidden_layers=1, encoder_num_attention_heads=2,
            decoder_hidden_size=32, decoder_num_hidden_layers=1, decoder_num_attention_heads=2,
            dpt_hooks=[0, 0, 1, 1], dpt_layer_dims=[8, 8, 16, 16], dpt_feature_dim=8, dpt_last_dim=8)
TARGET_MS = {"cuda": 250.0}  # per full-HD pair, bfloat16, one H100
STAGES = ("windowing", "forward", "blending", "resize")


@dataclass
class Case:
    config: str
    dtype: str = "float32"
    attn_implementation: str = "sdpa"
    compiled: bool = False
    tile_batch_size: int = 8
    image_size: tuple[int, int] = (1080, 1920)
    crop_size: tuple[int, int] = (352, 704)
    overlap: float = 0.7
    extra: dict = field(default_factory=dict)

    @property
    def tiles(self) -> int:
        return (len(window_offsets(max(self.image_size[0], self.crop_size[0]), self.crop_size[0], self.overlap))
                * len(window_offsets(max(self.image_size[1], self.crop_size[1]), self.crop_size[1], self.overlap)))


def gpu_cases(configs=("vitl_base_stereo",), tile_batch_size: int = 8) -> list[Case]:
    """Full GPU matrix at full HD: fp32/bf16 × eager/sdpa × compiled or not."""
    return [Case(name, dtype, attn, compiled, tile_batch_size) for name in configs
            for dtype in ("float32", "bfloat16") for attn in ("eager", "sdpa") for compiled in (False, True)]


def cpu_cases() -> list[Case]:
    """Reduced CPU setting (minutes on a shared 2-core machine): ViT-B/Small stereo with windows of about half the
    released crop (192×352) on a 480×270 pair (full HD / 4 per side), overlap 0.3: 2×2 windows in one forward pass."""
    return [Case("vitb_small_stereo", "float32", attn, False, 4, (270, 480), (192, 352), 0.3)
            for attn in ("eager", "sdpa")]


class StageTimer:
    """``timer(name)`` context manager that synchronises the device and accumulates seconds per stage name."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)

    @contextlib.contextmanager
    def __call__(self, name: str):
        croco._sync(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            croco._sync(self.device)
            self.seconds[name] += time.perf_counter() - start


def build_model(config_kwargs: dict, case: Case, device: torch.device) -> CroCoForStereoMatching:
    config = CroCoStereoConfig(image_size=list(case.crop_size), crop_size=list(case.crop_size),
                               tile_overlap=case.overlap, **config_kwargs)
    torch.manual_seed(0)
    model = CroCoForStereoMatching(config)
    model.set_attn_implementation(case.attn_implementation)
    return model.to(device=device, dtype=getattr(torch, case.dtype)).eval()


def run_case(case: Case, config_kwargs: dict, device: str | torch.device = "cpu", warmup: int = 2, iters: int = 5,
             compile_backend: str = "inductor") -> dict:
    """Time one case; returns ``asdict(case)`` plus ``ms_per_pair``, per-stage medians ``stage_ms``, memory…"""
    device = torch.device(device)
    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    croco._reset_peak(device)
    model = build_model(config_kwargs, case, device)
    forward = torch.compile(model, backend=compile_backend) if case.compiled else model
    generator = torch.Generator().manual_seed(0)
    shape = (1, 3, *case.image_size)
    left = torch.randn(shape, generator=generator).to(device)
    right = torch.randn(shape, generator=generator).to(device)

    def pair(timer=None):
        with torch.inference_mode():
            return tiled_prediction(forward, left, right, overlap=case.overlap, tile_batch_size=case.tile_batch_size,
                                    stage_timer=timer)

    result, warmup_s, times = croco.time_calls(pair, device, warmup, iters)
    stage_runs = []
    for _ in range(iters):
        timer = StageTimer(device)
        pair(timer)
        stage_runs.append(timer.seconds)
    peak, memory_kind = croco._peak_mb(device)
    if not torch.isfinite(result.prediction).all():
        raise RuntimeError(f"non-finite disparity in {case}")
    median = statistics.median(times)
    out = asdict(case)
    out.update(
        tiles=case.tiles,
        forward_passes=-(-case.tiles // case.tile_batch_size),
        ms_per_pair=1000 * median,
        ms_per_pair_min=1000 * min(times),
        pairs_per_s=1 / median,
        stage_ms={name: 1000 * statistics.median(run.get(name, 0.0) for run in stage_runs)
                  for name in STAGES},
        iters=iters,
        warmup=warmup,
        warmup_s=warmup_s,
        peak_memory_mb=peak,
        memory_kind=memory_kind,
        parameters=sum(p.numel() for p in model.parameters()),
    )
    target = TARGET_MS.get(device.type)
    out["target_ms"] = target if case.dtype == "bfloat16" else None
    out["meets_target"] = (out["ms_per_pair"] <= target) if out["target_ms"] else None
    return out


def run(device: str, configs: dict[str, dict], cases: list[Case], out_dir: Path, warmup: int = 2, iters: int = 5,
        compile_backend: str = "inductor", tag: str | None = None, log=print, note: str | None = None) -> Path:
    """Run ``cases`` on ``device`` and write ``croco_stereo_flow-<tag or device>-<date>.json``; returns its path."""
    load_start = croco.load_average()
    results = []
    for case in cases:
        log(f"[croco_stereo_flow] {device} {case.config} {case.dtype} {case.attn_implementation} "
            f"compiled={case.compiled} {case.image_size[1]}x{case.image_size[0]} tiles={case.tiles} "
            f"batch={case.tile_batch_size} ...")
        result = run_case(case, configs[case.config], device=device, warmup=warmup, iters=iters,
                          compile_backend=compile_backend)
        stages = ", ".join(f"{k} {v:.1f}" for k, v in result["stage_ms"].items())
        log(f"    {result['ms_per_pair']:.1f} ms/pair ({stages} ms), peak "
            f"{result['peak_memory_mb'] or float('nan'):.0f} MB ({result['memory_kind']})")
        results.append(result)
    settings = {
            "warmup": warmup, "iters": iters, "compile_backend": compile_backend,
            "timing": "ms_per_pair: median of iters after warmup, device synchronised around each pair; stage_ms: "
                      "medians of a second set of iters with device synchronisation at every stage boundary",
            "what": "nlv_hf.pipelines.stereo_flow.tiled_prediction on one normalised pair already on the device, "
                    "CroCoForStereoMatching with random weights, windows of crop_size batched tile_batch_size at "
                    "a time, inference_mode",
            "target": "<= 250 ms per 1920x1080 pair in bfloat16 on one H100",
            "configs": configs,
        }
    return croco.write_results("croco_stereo_flow", device, out_dir, tag, load_start, note, settings, results,
                               log=log)
