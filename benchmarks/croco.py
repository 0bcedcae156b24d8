"""CroCo speed and memory benchmarks: forward images/s and peak memory, training-step images/s.

Cases (see ``cpu_cases`` / ``gpu_cases``):
- forward: ``CroCoForPretraining`` pretraining forward (first image masked at the config's ratio, 0.9, second image
  whole; loss included) under ``torch.inference_mode`` — in float32 or bfloat16 weights, with ``eager`` or ``sdpa``
  attention, eager-mode PyTorch or ``torch.compile``.
- train_step: forward + backward + AdamW step with bfloat16 autocast (float32 master weights), sdpa attention.

Timing: ``warmup`` untimed iterations (which also absorb compilation), then the median of ``iters`` timed ones, with a
device synchronisation around each. Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` (reset per case); on
CPU the process's peak resident set size (``VmHWM``, reset per case through ``/proc/self/clear_refs``), which includes
the interpreter and libraries.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from nlv_hf.models.croco import CroCoConfig, CroCoForPretraining

# the two configurations the issue asks for (upstream names in brackets)
CONFIGS = {
    # CroCo_V2_ViTBase_SmallDecoder
    "vitb_smalldecoder": dict(encoder_hidden_size=768, encoder_num_hidden_layers=12, encoder_num_attention_heads=12,
                              decoder_hidden_size=512, decoder_num_hidden_layers=8, decoder_num_attention_heads=16),
    # CroCo_V2_ViTLarge_BaseDecoder
    "vitl_basedecoder": dict(encoder_hidden_size=1024, encoder_num_hidden_layers=24, encoder_num_attention_heads=16,
                             decoder_hidden_size=768, decoder_num_hidden_layers=12, decoder_num_attention_heads=12),
}
# for tests: the same code paths in seconds
TINY = dict(encoder_hidden_size=32, encoder_num_hidden_layers=1, encoder_num_attention_heads=2,
            decoder_hidden_size=32, decoder_num_hidden_layers=1, decoder_num_attention_heads=2)


@dataclass
class Case:
    config: str
    mode: str  # "forward" | "train_step"
    dtype: str = "float32"  # forward: weight dtype; train_step: autocast dtype (weights stay float32)
    attn_implementation: str = "sdpa"
    compiled: bool = False
    batch_size: int = 1
    image_size: int = 224


def cpu_cases(configs=tuple(CONFIGS)) -> list[Case]:
    """Small CPU set: batch 1, float32, eager vs sdpa attention."""
    return [Case(name, "forward", "float32", attn, False, 1) for name in configs for attn in ("eager", "sdpa")]


def gpu_cases(configs=tuple(CONFIGS), batch_size: int = 32) -> list[Case]:
    """Full GPU matrix: fp32 vs bf16 × eager vs sdpa × compiled or not, plus a bf16-autocast training step."""
    cases = [Case(name, "forward", dtype, attn, compiled, batch_size)
             for name in configs for dtype in ("float32", "bfloat16") for attn in ("eager", "sdpa")
             for compiled in (False, True)]
    cases += [Case(name, "train_step", "bfloat16", "sdpa", compiled, batch_size)
              for name in configs for compiled in (False, True)]
    return cases


# ---------------------------------------------------------------------------------------------------------- memory
def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        try:
            with open("/proc/self/clear_refs", "w") as f:  # "5" resets the peak RSS (Linux >= 4.0)
                f.write("5")
        except OSError:
            pass


def _peak_mb(device: torch.device) -> tuple[float | None, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_memory_allocated"
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024, "process_peak_rss"
    except OSError:
        pass
    return None, "unavailable"


def time_calls(step, device: torch.device, warmup: int, iters: int):
    """Run ``step()`` ``warmup`` times, then ``iters`` timed times (synchronising the device around each call).
    Returns (the last result, warm-up seconds, list of per-call seconds)."""
    result = None
    started = time.perf_counter()
    for _ in range(warmup):
        result = step()
    _sync(device)
    warmup_s = time.perf_counter() - started
    times = []
    for _ in range(iters):
        _sync(device)
        t0 = time.perf_counter()
        result = step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return result, warmup_s, times


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------------------------ cases
def build_model(config_kwargs: dict, case: Case, device: torch.device) -> CroCoForPretraining:
    config = CroCoConfig(image_size=case.image_size, patch_size=16, pos_embed="RoPE100", **config_kwargs)
    torch.manual_seed(0)
    model = CroCoForPretraining(config)
    model.set_attn_implementation(case.attn_implementation)
    if case.mode == "forward":
        model = model.to(device=device, dtype=getattr(torch, case.dtype)).eval()
    else:
        model = model.to(device=device).train()
    return model


def run_case(case: Case, config_kwargs: dict, device: str | torch.device = "cpu", warmup: int = 2, iters: int = 5,
             compile_backend: str = "inductor") -> dict:
    """Time one case; returns ``asdict(case)`` plus ``img_per_s``, ``ms_per_iter``, ``peak_memory_mb``…"""
    device = torch.device(device)
    # drop compiled graphs of earlier cases (they keep those models alive, and every compiled case must compile
    # afresh rather than hit dynamo's recompilation limit)
    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    _reset_peak(device)
    model = build_model(config_kwargs, case, device)
    dtype = getattr(torch, case.dtype)
    generator = torch.Generator().manual_seed(0)
    shape = (case.batch_size, 3, case.image_size, case.image_size)
    pixel_values = torch.randn(shape, generator=generator).to(device)
    pixel_values_2 = torch.randn(shape, generator=generator).to(device)
    if case.mode == "forward":
        pixel_values, pixel_values_2 = pixel_values.to(dtype), pixel_values_2.to(dtype)
    forward = torch.compile(model, backend=compile_backend) if case.compiled else model

    if case.mode == "forward":
        def step():
            with torch.inference_mode():
                return forward(pixel_values=pixel_values, pixel_values_2=pixel_values_2).loss
    elif case.mode == "train_step":
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)

        def step():
            with torch.autocast(device_type=device.type, dtype=dtype):
                loss = forward(pixel_values=pixel_values, pixel_values_2=pixel_values_2).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss
    else:
        raise ValueError(f"mode must be 'forward' or 'train_step', got {case.mode!r}")

    loss, warmup_s, times = time_calls(step, device, warmup, iters)
    peak, memory_kind = _peak_mb(device)
    if not torch.isfinite(loss.detach().float()):
        raise RuntimeError(f"non-finite loss in {case}")
    median = statistics.median(times)
    result = asdict(case)
    result.update(
        img_per_s=case.batch_size / median,
        ms_per_iter=1000 * median,
        ms_per_iter_min=1000 * min(times),
        iters=iters,
        warmup=warmup,
        warmup_s=warmup_s,
        peak_memory_mb=peak,
        memory_kind=memory_kind,
        parameters=sum(p.numel() for p in model.parameters()),
        loss=float(loss.detach().float()),
    )
    del model, forward
    return result


def environment(device: str | torch.device) -> dict:
    import transformers

    import nlv_hf

    device = torch.device(device)
    info = {
        "device": {
            "type": device.type,
            "name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
            or _cpu_model(),
            "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "nlv_hf": nlv_hf.__version__,
            "cuda": torch.version.cuda,
        },
        "platform": platform.platform(),
    }
    if device.type == "cuda":
        info["device"]["tf32_matmul"] = torch.backends.cuda.matmul.allow_tf32
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def load_average() -> float | None:
    """1-minute load average of the machine (None where the OS has none): benchmarks record it, timings on a
    shared machine are only comparable at similar load."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def write_results(benchmark: str, device: str | torch.device, out_dir: Path, tag: str | None, load_start,
                  note: str | None, settings: dict, results: list, log=print, **extra) -> Path:
    """Write ``<benchmark>-<tag or device type>-<date>.json`` with the date, device and library versions, the load
    average, the note, the settings and the results (plus ``extra`` top-level entries); returns its path."""
    now = dt.datetime.now(dt.timezone.utc)
    payload = {"benchmark": benchmark, "date": now.isoformat(timespec="seconds"), **environment(device),
               "load_average_1min_at_start": load_start, "note": note, "settings": settings, "results": results,
               **extra}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{benchmark}-{tag or torch.device(device).type}-{now:%Y-%m-%d}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    log(f"[{benchmark}] wrote {path}")
    return path
