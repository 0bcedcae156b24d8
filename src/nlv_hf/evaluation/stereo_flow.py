"""Evaluation of CroCo-Stereo / CroCo-Flow over a data set: ``nlv-hf eval croco-stereo|croco-flow``.

Each pair goes through the tiled full-resolution inference of :func:`nlv_hf.pipelines.stereo_flow.tiled_prediction`
(upstream ``test.py``), and the errors of every valid pixel are accumulated by
:class:`nlv_hf.metrics.StereoFlowDatasetMetrics` (pixel-weighted dataset numbers: ``EPE`` — for stereo the mean
absolute disparity error —, ``bad@N`` in %, ``D1`` = the KITTI outlier rate in %, and for flow the EPE per speed bin).
With ``baselines=True`` two trivial predictors are scored on the same pixels: ``zero`` (zero disparity / flow) and
``gt_mean`` (each image's mean valid ground truth as a constant — an oracle constant).

Data sources: any stereo/flow builder of ``dataset_scripts/`` on a ``data_dir`` in its official layout, held-out
``procedural`` pairs, or (stereo) the real Middlebury ``motorcycle`` pair shipped with scikit-image.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from nlv_hf.data.augment import IMAGENET_MEAN, IMAGENET_STD
from nlv_hf.data.stereo_flow_augment import resize_labels
from nlv_hf.metrics.stereo_flow import StereoFlowDatasetMetrics
from nlv_hf.pipelines.stereo_flow import tiled_prediction

REPO = Path(__file__).resolve().parents[3]
DEFAULT_MODELS = {"stereo": REPO / "spaces" / "croco_stereo_flow" / "weights" / "stereo",
                  "flow": REPO / "spaces" / "croco_stereo_flow" / "weights" / "flow"}
THRESHOLDS = {"stereo": (0.5, 1.0, 2.0, 3.0), "flow": (0.5, 1.0, 3.0, 5.0)}


def _metrics(task: str) -> StereoFlowDatasetMetrics:
    return StereoFlowDatasetMetrics(thresholds=THRESHOLDS[task])


def _task_of(model) -> str:
    task = getattr(getattr(model, "config", None), "task", None)
    if task not in THRESHOLDS:
        raise ValueError(f"expected a CroCo-Stereo / CroCo-Flow model, got {type(model).__name__}")
    return task


def _gt_mean(labels: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel mean of the valid ground truth, broadcast to the map."""
    valid = torch.isfinite(labels).all(dim=1, keepdim=True)
    filled = torch.where(valid, labels, torch.zeros_like(labels))
    mean = filled.sum(dim=(-2, -1), keepdim=True) / valid.sum(dim=(-2, -1), keepdim=True).clamp(min=1)
    return mean.expand_as(labels)


@torch.no_grad()
def evaluate_stereo_flow(model, dataset, baselines: bool = True, overlap: float | None = None,
                         tile_batch_size: int = 8, max_items: int | None = None) -> dict:
    """Dataset-level metrics of ``model`` on ``dataset``.

    ``dataset`` is a sequence of ``{"pixel_values", "pixel_values_2"}`` (float 3×H×W in [0, 1], **not** normalised;
    sizes may differ between items) and ``labels`` (1×H×W disparity / 2×H×W flow, non-finite = invalid).
    Returns ``{"model": {...}, "zero": {...}, "gt_mean": {...}, "num_pairs": n}`` (baselines only when asked)."""
    task = _task_of(model)
    count = len(dataset) if max_items is None else min(len(dataset), max_items)
    if count == 0:
        raise ValueError("evaluate_stereo_flow needs a non-empty data set")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    scores = {"model": _metrics(task)}
    if baselines:
        scores.update(zero=_metrics(task), gt_mean=_metrics(task))
    used = 0
    for index in range(count):
        item = dataset[index]
        labels = item.get("labels")
        if labels is None:
            continue
        labels = torch.as_tensor(labels, dtype=torch.float32)[None]
        if labels.shape[1] != model.config.task_channels:
            raise ValueError(f"item {index}: labels have {labels.shape[1]} channels, the {task} model predicts "
                             f"{model.config.task_channels}")
        if not torch.isfinite(labels).any():
            continue
        images = [(torch.as_tensor(item[k], dtype=torch.float32)[None] - mean) / std
                  for k in ("pixel_values", "pixel_values_2")]
        prediction = tiled_prediction(model, images[0].to(device), images[1].to(device), overlap=overlap,
                                      tile_batch_size=tile_batch_size).prediction.cpu()
        scores["model"].update(prediction, labels)
        if baselines:
            scores["zero"].update(torch.zeros_like(labels), labels)
            scores["gt_mean"].update(_gt_mean(labels), labels)
        used += 1
    model.train(was_training)
    if used == 0:
        raise ValueError("no item of the data set has valid ground truth")
    out = {name: _clean(metric.compute(), task) for name, metric in scores.items()}
    out["num_pairs"] = used
    return out


def _clean(result: dict, task: str) -> dict:
    if task == "stereo":  # speed bins are a flow notion
        result = {k: v for k, v in result.items() if not (k.startswith("s") and k[1:2].isdigit())}
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}


def format_table(results: dict, title: str | None = None) -> str:
    """The result of :func:`evaluate_stereo_flow` as a fixed-width text table (one row per predictor)."""
    rows = [name for name in ("model", "zero", "gt_mean") if name in results]
    columns = list(results[rows[0]])
    width = max(9, *(len(c) + 1 for c in columns))
    lines = [title] if title else []
    lines.append(f"{'predictor':<10}" + "".join(f"{c:>{width}}" for c in columns))
    for name in rows:
        cells = [results[name][c] for c in columns]
        lines.append(f"{name:<10}" + "".join(f"{'-':>{width}}" if v is None else f"{v:>{width}.3f}" for v in cells))
    stereo = "bad@2.0" in columns
    lines.append(f"({results['num_pairs']} pairs; EPE = mean end-point error in px, bad@N and D1 (KITTI Fl) in % of "
                 "valid pixels; s*: EPE by speed)"
                 if not stereo else
                 f"({results['num_pairs']} pairs; EPE = mean |disparity error| in px, bad@N and D1 in % of valid "
                 "pixels)")
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------- data sources
class _Resized:
    """Items of a dataset resized by ``scale`` (images bilinear with antialiasing; ground truth nearest-neighbour,
    values × scale, invalid pixels kept invalid)."""

    def __init__(self, dataset, scale: float):
        self.dataset, self.scale = dataset, float(scale)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        item = self.dataset[index]
        if self.scale == 1.0:
            return item
        height, width = item["pixel_values"].shape[-2:]
        size = (max(1, round(height * self.scale)), max(1, round(width * self.scale)))
        out = {k: torch.nn.functional.interpolate(torch.as_tensor(item[k]).float()[None], size=size, mode="bilinear",
                                                  align_corners=False, antialias=True)[0].clamp(0, 1)
               for k in ("pixel_values", "pixel_values_2")}
        out["labels"] = None if item.get("labels") is None else resize_labels(torch.as_tensor(item["labels"]).float(),
                                                                              size, "nearest")
        return out


def stereo_motorcycle_pair() -> dict:
    """The Middlebury 2014 "Motorcycle" pair shipped in scikit-image (``skimage.data.stereo_motorcycle()``):
    ``pixel_values`` (left), ``pixel_values_2`` (right) as float 3×500×741 in [0, 1] and ``labels`` 1×500×741 left
    disparity. scikit-image gives the disparity as float32 with ``+inf`` at the pixels without ground truth (the
    Middlebury PFM convention), which is exactly our invalid-pixel convention; any non-positive value would be
    invalid too."""
    from skimage.data import stereo_motorcycle

    left, right, disparity = stereo_motorcycle()
    labels = torch.from_numpy(disparity.astype("float32"))[None]
    labels = labels.masked_fill(~(torch.isfinite(labels) & (labels > 0)), float("inf"))

    def image(array):
        return torch.from_numpy(array).permute(2, 0, 1).float() / 255.0

    return {"pixel_values": image(left), "pixel_values_2": image(right), "labels": labels}


def load_eval_dataset(task: str, dataset: str, data_dir: str | None = None, split: str = "train",
                      config_name: str | None = None, num_pairs: int = 32, height: int = 160, width: int = 320,
                      seed: int = 1, scale: float = 1.0, max_disparity: float = 32.0, max_motion: float = 12.0):
    """The items to evaluate on: a ``dataset_scripts`` builder (``data_dir`` needed), ``"procedural"`` (``num_pairs``
    pairs of ``height``×``width`` from scenes ``(seed, i)`` with disparities up to ``max_disparity`` / motions up to
    ``max_motion``; the recipes train on seed 0) or ``"motorcycle"``
    (stereo), resized by ``scale``."""
    if dataset == "procedural":
        from nlv_hf.data.stereo_flow import ProceduralFlowDataset, ProceduralStereoDataset

        if task == "stereo":
            items = ProceduralStereoDataset(num_pairs, height=height, width=width, seed=seed,
                                            max_disparity=max_disparity)
        else:
            items = ProceduralFlowDataset(num_pairs, height=height, width=width, seed=seed, max_motion=max_motion)
    elif dataset == "motorcycle":
        if task != "stereo":
            raise ValueError("the motorcycle pair is a stereo pair; use croco-stereo")
        items = [stereo_motorcycle_pair()]
    else:
        if not data_dir:
            raise ValueError(f"--dataset {dataset} needs --data_dir <folder in the official layout>")
        from nlv_hf.data.builder_registry import load_stereo_flow_split

        items = load_stereo_flow_split(dataset, data_dir, task, split, config_name)
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    return _Resized(items, scale)


def load_model(task: str, model: str | None = None):
    """A saved CroCo-Stereo / CroCo-Flow folder (or Hub id); the project's small demo weights by default."""
    from nlv_hf.models.croco import CroCoForOpticalFlow, CroCoForStereoMatching

    path = model or str(DEFAULT_MODELS[task])
    if model is None and not Path(path).is_dir():
        raise ValueError(f"no --model given and the demo weights {path} are missing")
    cls = CroCoForStereoMatching if task == "stereo" else CroCoForOpticalFlow
    loaded = cls.from_pretrained(path)
    if loaded.config.task != task:
        raise ValueError(f"{path} holds a {loaded.config.task} model, not a {task} model")
    return loaded


# -------------------------------------------------------------------------------------------------- CLI
def build_parser(task: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"nlv-hf eval croco-{task}",
                                     description=f"Tiled CroCo-{task.capitalize()} evaluation over a data set")
    parser.add_argument("--dataset", required=True, help="a dataset_scripts builder (middlebury, eth3d, kitti, "
                        "sceneflow, sintel, flyingchairs, spring), 'procedural'" + (", or 'motorcycle'"
                                                                                     if task == "stereo" else ""))
    parser.add_argument("--data_dir", default=None, help="the data set in its official layout")
    parser.add_argument("--dataset_config", default=None, help="builder config (e.g. 2014, eval3_H, 2015_flow)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--model", default=None, help="saved model folder (default: the shipped demo weights)")
    parser.add_argument("--scale", type=float, default=1.0, help="resize images and ground truth by this factor")
    parser.add_argument("--num_pairs", type=int, default=32, help="procedural: number of held-out pairs")
    parser.add_argument("--height", type=int, default=160, help="procedural: pair height")
    parser.add_argument("--width", type=int, default=320, help="procedural: pair width")
    parser.add_argument("--seed", type=int, default=1, help="procedural: scene seed (training uses 0)")
    parser.add_argument("--max_disparity", type=float, default=32.0, help="procedural stereo: largest disparity")
    parser.add_argument("--max_motion", type=float, default=12.0, help="procedural flow: largest translation")
    parser.add_argument("--max_items", type=int, default=None)
    parser.add_argument("--overlap", type=float, default=None, help="tile overlap (default: the model's)")
    parser.add_argument("--tile_batch_size", type=int, default=8)
    parser.add_argument("--no_baselines", action="store_true", help="skip the zero / GT-mean baselines")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser


def run_eval(task: str, argv: list[str] | None = None) -> dict:
    args = build_parser(task).parse_args(argv)
    model = load_model(task, args.model)
    dataset = load_eval_dataset(task, args.dataset, args.data_dir, args.split, args.dataset_config, args.num_pairs,
                                args.height, args.width, args.seed, args.scale, args.max_disparity,
                                args.max_motion)
    results = evaluate_stereo_flow(model, dataset, baselines=not args.no_baselines, overlap=args.overlap,
                                   tile_batch_size=args.tile_batch_size, max_items=args.max_items)
    title = f"croco-{task} on {args.dataset}" + (f" ({args.dataset_config})" if args.dataset_config else "") + \
        (f", split {args.split}" if args.dataset not in ("procedural", "motorcycle") else "") + \
        (f", scale {args.scale:g}" if args.scale != 1.0 else "")
    print(format_table(results, title))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


def main(argv: list[str] | None = None) -> None:
    """``nlv-hf eval croco-stereo|croco-flow [options]``."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    tasks = {"croco-stereo": "stereo", "croco-flow": "flow"}
    if not argv or argv[0] not in tasks:
        print(f"usage: nlv-hf eval {{{','.join(tasks)}}} --dataset NAME [--data_dir DIR] [--model DIR] …",
              file=sys.stderr)
        raise SystemExit(2)
    try:
        run_eval(tasks[argv[0]], argv[1:])
    except ValueError as err:
        print(f"nlv-hf eval: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


__all__ = ["evaluate_stereo_flow", "format_table", "load_eval_dataset", "load_model", "main", "run_eval",
           "stereo_motorcycle_pair"]
