"""Run the nlv_hf benchmarks and write JSON results (with device and versions) to ``benchmarks/results/``.

    python benchmarks/run.py                 # CPU set (batch 1), plus the GPU matrix when CUDA is available
    python benchmarks/run.py --device cuda --batch-size 64
    python benchmarks/run.py --device cpu --configs vitb_smalldecoder --iters 3
    python benchmarks/run.py --suite multi_hmr --device cuda   # Multi-HMR full inference (GPU matrix) only
    python benchmarks/run.py --suite croco_stereo_flow --device cuda   # full-HD tiled stereo latency only

``make bench`` runs it with the defaults.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import nlv_hf  # noqa: F401
except ImportError:  # running from a clone without installing the package
    sys.path.insert(0, str(HERE.parent / "src"))

import torch  # noqa: E402

import croco  # noqa: E402
import croco_stereo_flow  # noqa: E402
import multi_hmr  # noqa: E402

RESULTS = HERE / "results"


def run(device: str, configs: dict[str, dict], cases, out_dir: Path = RESULTS, warmup: int = 2, iters: int = 5,
        compile_backend: str = "inductor", tag: str | None = None, log=print, note: str | None = None) -> Path:
    """Run ``cases`` (``croco.Case``) on ``device`` and write one JSON file; returns its path."""
    load_start = croco.load_average()
    results = []
    for case in cases:
        log(f"[croco] {device} {case.config} {case.mode} {case.dtype} {case.attn_implementation} "
            f"compiled={case.compiled} batch={case.batch_size} ...")
        result = croco.run_case(case, configs[case.config], device=device, warmup=warmup, iters=iters,
                                compile_backend=compile_backend)
        log(f"    {result['img_per_s']:.2f} img/s, {result['ms_per_iter']:.1f} ms/iter, "
            f"peak {result['peak_memory_mb'] or float('nan'):.0f} MB ({result['memory_kind']})")
        results.append(result)
    settings = {"warmup": warmup, "iters": iters, "compile_backend": compile_backend,
                "timing": "median of iters after warmup, device synchronised",
                "forward": "CroCoForPretraining forward (first image masked at ratio 0.9, loss included), "
                           "inference_mode",
                "train_step": "forward + backward + AdamW step under autocast(dtype), float32 weights",
                "configs": configs}
    return croco.write_results("croco", device, out_dir, tag, load_start, note, settings, results, log=log)


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto: the CPU set, then the GPU matrix when CUDA is available")
    parser.add_argument("--configs", nargs="+", choices=sorted(croco.CONFIGS), default=sorted(croco.CONFIGS))
    parser.add_argument("--batch-size", type=int, default=32, help="GPU batch size (CPU uses 1)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default=None, help="free text stored in the JSON (e.g. what else ran)")
    parser.add_argument("--suite", nargs="+", choices=["croco", "croco_stereo_flow", "multi_hmr"],
                        default=["croco", "croco_stereo_flow", "multi_hmr"], help="which benchmarks to run (default: all)")
    parser.add_argument("--multi-hmr-configs", nargs="+", choices=sorted(multi_hmr.CONFIGS),
                        default=sorted(multi_hmr.CONFIGS), help="multi_hmr backbones (CPU runs ViT-S and ViT-B only)")
    parser.add_argument("--profiler-top", type=int, default=0, help="multi_hmr: also list the N top operators")
    parser.add_argument("--tile-batch-size", type=int, default=8,
                        help="croco_stereo_flow on GPU: windows per forward pass (56 windows per full-HD pair)")
    args = parser.parse_args(argv)
    configs = {name: croco.CONFIGS[name] for name in args.configs}
    written = []
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine")
    cpu = args.device in ("auto", "cpu")
    gpu = args.device in ("auto", "cuda") and torch.cuda.is_available()
    if "croco" in args.suite and cpu:
        written.append(run("cpu", configs, croco.cpu_cases(args.configs), args.out, args.warmup, args.iters,
                           note=args.note))
    if "croco" in args.suite and gpu:
        written.append(run("cuda", configs, croco.gpu_cases(args.configs, args.batch_size), args.out,
                           args.warmup, args.iters, note=args.note))
    mhr_configs = {name: multi_hmr.CONFIGS[name] for name in args.multi_hmr_configs}
    if "multi_hmr" in args.suite and cpu:
        small = [name for name in ("vits", "vitb") if name in mhr_configs]
        written.append(multi_hmr.run("cpu", mhr_configs, multi_hmr.cpu_cases(small), args.out, args.warmup,
                                     args.iters, note=args.note, profiler_top=args.profiler_top))
    if "multi_hmr" in args.suite and gpu:
        written.append(multi_hmr.run("cuda", mhr_configs, multi_hmr.gpu_cases(args.multi_hmr_configs), args.out,
                                     args.warmup, args.iters, note=args.note, profiler_top=args.profiler_top))
    stereo = croco_stereo_flow
    if "croco_stereo_flow" in args.suite and cpu:
        written.append(stereo.run("cpu", stereo.CONFIGS, stereo.cpu_cases(), args.out, warmup=1,
                                  iters=min(args.iters, 2), note=args.note))
    if "croco_stereo_flow" in args.suite and gpu:
        written.append(stereo.run("cuda", stereo.CONFIGS, stereo.gpu_cases(tile_batch_size=args.tile_batch_size),
                                  args.out, args.warmup, args.iters, note=args.note))
    return written


if __name__ == "__main__":
    main()
