"""Held-out evaluation of the demo Multi-HMR-Anny weights (spaces/multi_hmr/weights) against trivial baselines.

    PYTHONPATH=src python benchmarks/multi_hmr_demo_eval.py spaces/multi_hmr/weights [--num_images 64] [--out file]

Held-out images: procedural Anny people with the training configuration but ``scene_seed + 1`` (never seen in
training). Metrics come from ``nlv_hf.training.multi_hmr.evaluate_mesh_recovery`` (detections matched to GT people
with upstream's greedy 2D rule; MPJPE / PA-MPJPE / PVE in mm, root-centred, over matched people) and
``evaluate_template_baseline``; the untrained model is the same architecture at its seed-0 initialisation.
"""

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from nlv_hf.models.multi_hmr import MultiHMRForMeshRecovery
from nlv_hf.training.multi_hmr import (MultiHMRDataArguments, build_datasets, evaluate_mesh_recovery,
                                       evaluate_template_baseline)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("weights")
    parser.add_argument("--num_images", type=int, default=64)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.5])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = yaml.safe_load(Path(args.weights, "train_config.yaml").read_text())
    data = MultiHMRDataArguments(num_train_samples=1, num_eval_samples=args.num_images,
                                 scene_seed=cfg.get("scene_seed", 0), min_people=cfg.get("min_people", 1),
                                 max_people=cfg.get("max_people", 3))
    trained = MultiHMRForMeshRecovery.from_pretrained(args.weights).eval()
    _, held_out = build_datasets(data, trained.config.image_size, "anny")
    items = [held_out[i] for i in range(len(held_out))]  # generate once
    torch.manual_seed(0)
    untrained = MultiHMRForMeshRecovery(trained.config).eval()
    results = {"held_out_images": len(items), "scene_seed": data.scene_seed + 1}
    start = time.time()
    for name, model in (("trained", trained), ("untrained", untrained)):
        results[name] = {"teacher_forced": evaluate_mesh_recovery(model, items, teacher_forced=True)}
        for t in args.thresholds:
            results[name][f"detect@{t}"] = evaluate_mesh_recovery(model, items, detection_threshold=t)
    results["template_baseline"] = evaluate_template_baseline(trained, items)
    results["eval_seconds"] = round(time.time() - start, 1)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
