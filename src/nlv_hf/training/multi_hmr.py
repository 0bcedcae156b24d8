"""Multi-HMR training recipe: ``nlv-hf train multi-hmr [--config file.yaml] [flags…]``.

Upstream ``train.py`` values are the defaults: ``torch.optim.Adam`` (here AdamW with weight decay 0, which is the same
update), learning rate 5e-6 with no schedule, the README's batch of 32 and 336×336 inputs, a ViT-S/14 backbone, and
the loss of :mod:`nlv_hf.models.multi_hmr.loss_multi_hmr` with upstream's ``--alpha_*`` weights (2D terms from
epoch ``start_2d_epoch`` = 10). The head is teacher-forced at the GT person centres, as upstream trains.

Data:

* procedural (default): :class:`nlv_hf.data.anny_people.AnnyPeopleDataset` people rendered at the model's square input
  size with exact Anny ground truth (``--body_model anny``); held-out images use ``scene_seed + 1``;
* ``--data_dir``: a folder in one of upstream's annotation formats read by the ``multi_hmr_people`` builder
  (``dataset_scripts/multi_hmr_people``; BEDLAM npz or upstream's preprocessed pickle); the SMPL-X targets (meshes,
  joints, the head centre) are computed from the GT parameters with the licensed SMPL-X model (``--smplx_path``).

:class:`MultiHMRCollator` letterboxes the images (the model's processor), maps the intrinsics and 2D centres, keeps the
people whose centre falls in the image (the nearest one when two share a patch, as upstream) and builds
``pixel_values``, ``intrinsics`` and the per-person ``labels`` the model's loss reads.

Resumable (``--resume_from_checkpoint``): the procedural samples are pure functions of (seed, index). Runs unchanged
under ``accelerate launch`` / ``torchrun``. After training, :func:`evaluate_mesh_recovery` measures held-out MPJPE,
PA-MPJPE, PVE (mm, on detected-and-matched people) and detection precision/recall (upstream's greedy 2D matching)
and writes ``mesh_recovery_eval.json``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback, TrainingArguments, set_seed

from nlv_hf.data.anny_people import AnnyPeopleConfig, AnnyPeopleDataset
from nlv_hf.metrics.human_mesh import DetectionCounts, match_people_greedy, mpjpe, pa_mpjpe, pve
from nlv_hf.models.multi_hmr import MultiHMRConfig, MultiHMRForMeshRecovery
from nlv_hf.models.multi_hmr.image_processing_multi_hmr import MultiHMRImageProcessor, letterbox_geometry
from nlv_hf.models.multi_hmr.loss_multi_hmr import UPSTREAM_LOSS_WEIGHTS, fov_from_intrinsics

from .recipe import build_trainer, parse_recipe_args, run_trainer

logger = logging.getLogger(__name__)

RECIPE_DEFAULTS = {
    "per_device_train_batch_size": 32,
    "learning_rate": 5e-6,
    "weight_decay": 0.0,
    "lr_scheduler_type": "constant",
    "max_steps": 500_000,
    "save_steps": 10_000,
    "save_total_limit": 2,
    "logging_steps": 50,
    "report_to": "none",
    "dataloader_drop_last": True,
}


@dataclass
class MultiHMRModelArguments:
    model_name_or_path: str | None = field(default=None, metadata={
        "help": "start from a saved MultiHMRForMeshRecovery folder (or a converted official checkpoint) instead of a "
                "fresh model built from the fields below"})
    body_model: str = field(default="anny", metadata={"help": "'anny' (procedural data) or 'smplx' (--data_dir)"})
    image_size: int = field(default=336, metadata={"help": "square input side, a multiple of patch_size"})
    patch_size: int = 14
    hidden_size: int = field(default=384, metadata={"help": "backbone width (ViT-S 384, B 768, L 1024)"})
    num_hidden_layers: int = 12
    num_attention_heads: int = 6
    decoder_hidden_size: int | None = None
    decoder_num_hidden_layers: int | None = None
    decoder_num_attention_heads: int | None = None
    decoder_head_dim: int | None = None
    decoder_intermediate_size: int | None = None
    num_betas: int | None = None
    attn_implementation: str = field(default="sdpa", metadata={"help": "sdpa | eager"})


@dataclass
class MultiHMRDataArguments:
    data_dir: str | None = field(default=None, metadata={
        "help": "folder in an upstream annotation format (see dataset_scripts/multi_hmr_people); procedural Anny "
                "people when absent"})
    data_format: str = field(default="auto", metadata={"help": "auto | bedlam_npz | multihmr_pickle"})
    smplx_path: str | None = field(default=None, metadata={"help": "SMPL-X model folder/file (for --data_dir)"})
    num_train_samples: int = field(default=100_000, metadata={"help": "procedural training images"})
    num_eval_samples: int = field(default=64, metadata={"help": "procedural held-out images (seed scene_seed + 1)"})
    scene_seed: int = 0
    min_people: int = 1
    max_people: int = 3
    depth_min: float = 4.0
    depth_max: float = 7.0
    fov_degrees: float = 60.0
    cache_samples: bool = field(default=False, metadata={"help": "keep generated samples in memory"})
    alpha_bce: float = UPSTREAM_LOSS_WEIGHTS["bce"]
    alpha_offset: float = UPSTREAM_LOSS_WEIGHTS["offset"]
    alpha_rotmat: float = UPSTREAM_LOSS_WEIGHTS["rotmat"]
    alpha_shape: float = UPSTREAM_LOSS_WEIGHTS["shape"]
    alpha_dist: float = UPSTREAM_LOSS_WEIGHTS["dist"]
    alpha_transl: float = UPSTREAM_LOSS_WEIGHTS["transl"]
    alpha_j3d: float = UPSTREAM_LOSS_WEIGHTS["j3d"]
    alpha_v3d: float = UPSTREAM_LOSS_WEIGHTS["v3d"]
    alpha_j2d: float = UPSTREAM_LOSS_WEIGHTS["j2d"]
    alpha_v2d: float = UPSTREAM_LOSS_WEIGHTS["v2d"]
    alpha_fov: float = UPSTREAM_LOSS_WEIGHTS["fov"]
    start_2d_epoch: int = field(default=10, metadata={"help": "epoch from which the 2D terms are on (upstream 10)"})
    evaluate_mesh_recovery: bool = field(default=True, metadata={
        "help": "after training, measure held-out MPJPE / PA-MPJPE / PVE / detection recall and precision "
                "(mesh_recovery_eval.json)"})
    eval_detection_threshold: float = 0.3
    torch_num_threads: int = field(default=0, metadata={"help": "torch.set_num_threads (0: leave as is)"})
    max_train_minutes: float = field(default=0.0, metadata={
        "help": "stop training (and save) after this many minutes of wall time (0: no limit)"})


# ------------------------------------------------------------------------------------------------------- data
def anny_sample_to_people(sample: dict[str, Any]) -> dict[str, Any]:
    """An :class:`AnnyPeopleDataset` sample as a people record (the format :class:`MultiHMRCollator` reads):
    ``image`` (H, W, 3) uint8, ``K`` (3, 3), and per person ``centers_2d``, ``translation`` (centre = head joint),
    ``rotvec`` (P, 163, 3), ``betas`` (P, 11 phenotypes), ``joints_3d``, ``vertices`` (camera space)."""
    return {"image": sample["image"], "K": sample["K"], "centers_2d": sample["center_2d"],
            "translation": sample["translation"], "rotvec": sample["rotvec"], "betas": sample["phenotypes"],
            "joints_3d": sample["joints_3d"], "vertices": sample["vertices"]}


class PeopleDataset(torch.utils.data.Dataset):
    """Maps a dataset of samples to people records with ``to_people``; ``cache`` keeps them in memory."""

    def __init__(self, base, to_people=anny_sample_to_people, cache: bool = False):
        self.base = base
        self.to_people = to_people
        self.cache = {} if cache else None

    def __len__(self):
        return len(self.base)

    def __getitem__(self, index):
        index = int(index)
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        item = self.to_people(self.base[index])
        if self.cache is not None:
            self.cache[index] = item
        return item


class MultiHMRCollator:
    """People records -> ``{"pixel_values", "intrinsics", "labels"}`` for :class:`MultiHMRForMeshRecovery`.

    Images are letterboxed to ``image_size`` (the model's processor: contain + centred zero padding, ImageNet
    normalisation) and K / 2D centres follow. A person is kept when its centre lies inside the input and in front of
    the camera; two people on one patch keep the nearer (upstream). ``labels``: ``detections`` (P, 3), ``centers_2d``,
    ``translation``, ``depth`` (SMPL-X: pelvis z, upstream; Anny: centre z), ``rotvec``, ``betas``, ``joints_3d``,
    ``vertices`` (when every record has them) and ``fov`` (B,) of the input cameras. ``with_meshes=False`` drops the
    GT meshes (for runs whose mesh loss terms are off)."""

    def __init__(self, image_size: int, patch_size: int = 14, body_model: str = "anny", with_meshes: bool = True):
        if image_size % patch_size:
            raise ValueError(f"image_size ({image_size}) must be a multiple of patch_size ({patch_size})")
        if body_model not in ("anny", "smplx"):
            raise ValueError(f"body_model must be 'anny' or 'smplx', got {body_model!r}")
        self.image_size, self.patch_size, self.body_model = image_size, patch_size, body_model
        self.with_meshes = with_meshes
        self.processor = MultiHMRImageProcessor(image_size=image_size)

    def __call__(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        if not records:
            raise ValueError("cannot collate an empty list of records")
        size, p = self.image_size, self.patch_size
        images = [np.asarray(r["image"]) for r in records]
        batch = self.processor(images=images, intrinsics=[torch.as_tensor(r["K"]).float() for r in records],
                               image_size=size)
        counts = torch.tensor([len(r["centers_2d"]) for r in records])
        img = torch.repeat_interleave(torch.arange(len(records)), counts)
        geometry = torch.tensor([letterbox_geometry(im.shape[0], im.shape[1], size)[:4] for im in images],
                                dtype=torch.float32)
        cat = {key: torch.cat([torch.as_tensor(r[key]).float() for r in records])
               for key in ("centers_2d", "translation", "rotvec", "betas")}
        has_meshes = self.with_meshes and all("joints_3d" in r and "vertices" in r for r in records)
        if has_meshes or self.body_model == "smplx":
            cat["joints_3d"] = torch.cat([torch.as_tensor(r["joints_3d"]).float() for r in records])
        if has_meshes:
            cat["vertices"] = torch.cat([torch.as_tensor(r["vertices"]).float() for r in records])
        g = geometry[img]
        centers = cat["centers_2d"] * g[:, :2] + g[:, 2:]
        cat["centers_2d"] = centers
        depth = cat["joints_3d"][:, 0, 2] if self.body_model == "smplx" else cat["translation"][:, 2]
        inside = ((centers >= 0) & (centers < size)).all(-1) & (cat["translation"][:, 2] > 0)
        cell = torch.div(centers.clamp(0, size - 1e-3), p, rounding_mode="floor").long()
        row, col = cell[:, 1], cell[:, 0]
        # sort by (image, cell, depth) and keep the first (nearest) person of each occupied cell
        key = (img * (size // p) ** 2 + row * (size // p) + col).double()
        order = torch.argsort(key * 1e4 + depth.double().clamp(0, 9999))
        order = order[inside[order]]
        first = torch.ones_like(order, dtype=torch.bool)
        first[1:] = key[order][1:] != key[order][:-1]
        keep = order[first]
        labels = {k: v[keep] for k, v in cat.items()}
        labels["depth"] = depth[keep]
        if "joints_3d" in labels and not has_meshes:
            del labels["joints_3d"]
        labels["detections"] = torch.stack([img[keep], row[keep], col[keep]], dim=-1)
        labels["fov"] = fov_from_intrinsics(batch["intrinsics"], size)
        return {"pixel_values": batch["pixel_values"], "intrinsics": batch["intrinsics"], "labels": labels}


def procedural_config(data_args: MultiHMRDataArguments, image_size: int) -> AnnyPeopleConfig:
    return AnnyPeopleConfig(image_size=(image_size, image_size), min_people=data_args.min_people,
                            max_people=data_args.max_people, fov_degrees=data_args.fov_degrees,
                            depth_range=(data_args.depth_min, data_args.depth_max))


def build_datasets(data_args: MultiHMRDataArguments, image_size: int, body_model: str,
                   training_args: TrainingArguments | None = None):
    """(train dataset, held-out dataset or None) of people records."""
    if data_args.data_dir is not None:
        if body_model != "smplx":
            raise ValueError("--data_dir holds SMPL-X annotations: use --body_model smplx")
        from nlv_hf.data.multi_hmr_people import MultiHMRPeople, SMPLXPeopleTransform

        builder = MultiHMRPeople(data_dir=data_args.data_dir, config_name=data_args.data_format)
        if training_args is not None:
            with training_args.main_process_first(desc="prepare the annotations"):
                builder.download_and_prepare()
        else:
            builder.download_and_prepare()
        splits = builder.as_dataset()
        transform = SMPLXPeopleTransform(data_args.smplx_path)
        train = PeopleDataset(splits["train"], transform, cache=data_args.cache_samples)
        evald = PeopleDataset(splits["validation"], transform) if "validation" in splits else None
        return train, evald
    if body_model != "anny":
        raise ValueError("procedural people are Anny people: use --body_model anny (or give --data_dir)")
    config = procedural_config(data_args, image_size)
    train = PeopleDataset(AnnyPeopleDataset(data_args.num_train_samples, config, seed=data_args.scene_seed),
                          cache=data_args.cache_samples)
    evald = None
    if data_args.num_eval_samples > 0:
        evald = PeopleDataset(AnnyPeopleDataset(data_args.num_eval_samples, config, seed=data_args.scene_seed + 1))
    return train, evald


def build_model(model_args: MultiHMRModelArguments) -> MultiHMRForMeshRecovery:
    if model_args.model_name_or_path:
        return MultiHMRForMeshRecovery.from_pretrained(model_args.model_name_or_path,
                                                       attn_implementation=model_args.attn_implementation)
    config = MultiHMRConfig(
        body_model=model_args.body_model, image_size=model_args.image_size, patch_size=model_args.patch_size,
        hidden_size=model_args.hidden_size, num_hidden_layers=model_args.num_hidden_layers,
        num_attention_heads=model_args.num_attention_heads, decoder_hidden_size=model_args.decoder_hidden_size,
        decoder_num_hidden_layers=model_args.decoder_num_hidden_layers,
        decoder_num_attention_heads=model_args.decoder_num_attention_heads,
        decoder_head_dim=model_args.decoder_head_dim, decoder_intermediate_size=model_args.decoder_intermediate_size,
        num_betas=model_args.num_betas, attn_implementation=model_args.attn_implementation,
    )
    return MultiHMRForMeshRecovery(config)


def loss_weights(data_args: MultiHMRDataArguments, epoch: float = 0.0) -> dict[str, float]:
    weights = {k: float(getattr(data_args, f"alpha_{k}")) for k in UPSTREAM_LOSS_WEIGHTS}
    if epoch < data_args.start_2d_epoch:
        weights["j2d"] = weights["v2d"] = 0.0
    return weights


class LossScheduleCallback(TrainerCallback):
    """Sets the model's loss weights at each epoch (upstream turns the 2D terms on at ``start_2d_epoch``)."""

    def __init__(self, model, data_args):
        self.model, self.data_args = model, data_args

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.model.loss_weights = loss_weights(self.data_args, math.floor((state.epoch or 0) + 1e-6))


class WallTimeCallback(TrainerCallback):
    """Stops training once ``minutes`` of wall time have passed since training started (checked every step)."""

    def __init__(self, minutes: float):
        self.minutes = float(minutes)
        self.start = None

    def on_train_begin(self, args, state, control, **kwargs):
        import time

        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        import time

        if self.minutes > 0 and time.monotonic() - self.start > 60 * self.minutes:
            control.should_training_stop = True
            control.should_save = True
        return control


# -------------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_mesh_recovery(model: MultiHMRForMeshRecovery, dataset, batch_size: int = 8,
                           detection_threshold: float | None = None, max_items: int | None = None,
                           teacher_forced: bool = False) -> dict:
    """Held-out metrics of ``model`` on a dataset of people records (Anny or SMPL-X, with GT ``joints_3d`` and
    ``vertices``).

    Detected people are matched to GT people per image with upstream's greedy 2D matching
    (:func:`match_people_greedy`, on the projected joints); MPJPE / PA-MPJPE (all body-model joints, root-centred)
    and PVE (root-centred vertices) are averaged over matched people, in millimetres. ``teacher_forced=True`` runs the
    head at the GT centres instead (every GT person is matched to itself): the regression quality alone."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    collator = MultiHMRCollator(model.config.image_size, model.config.patch_size, model.config.body_model)
    count = len(dataset) if max_items is None else min(len(dataset), max_items)
    if count == 0:
        raise ValueError("evaluate_mesh_recovery needs a non-empty dataset")
    errors = {"mpjpe": [], "pa_mpjpe": [], "pve": []}
    counts = DetectionCounts()
    for start in range(0, count, batch_size):
        batch = collator([dataset[i] for i in range(start, min(count, start + batch_size))])
        labels = batch["labels"]
        kwargs = {"detections": labels["detections"].to(device)} if teacher_forced else {}
        out = model(pixel_values=batch["pixel_values"].to(device), intrinsics=batch["intrinsics"].to(device),
                    detection_threshold=detection_threshold, compute_meshes=True, **kwargs)
        det = out.detections.cpu()
        k_gt = batch["intrinsics"][labels["detections"][:, 0]]
        gt_2d = torch.einsum("pij,pnj->pni", k_gt, labels["joints_3d"] / labels["joints_3d"][..., 2:])[..., :2]
        for b in range(batch["pixel_values"].shape[0]):
            pred_idx = torch.nonzero(det[:, 0] == b)[:, 0]
            gt_idx = torch.nonzero(labels["detections"][:, 0] == b)[:, 0]
            if teacher_forced:
                mp, mg = torch.arange(len(pred_idx)), torch.arange(len(gt_idx))
            else:
                pred_2d = out.joints_2d[pred_idx].cpu() if len(pred_idx) else torch.zeros(0, *gt_2d.shape[1:])
                mp, mg = match_people_greedy(pred_2d.float(), gt_2d[gt_idx])
            counts.update(len(mp), len(pred_idx), len(gt_idx))
            if len(mp) == 0:
                continue
            p_sel, g_sel = pred_idx[mp], gt_idx[mg]
            pj, gj = out.joints_3d[p_sel].float().cpu(), labels["joints_3d"][g_sel]
            errors["mpjpe"].append(mpjpe(pj, gj))
            errors["pa_mpjpe"].append(pa_mpjpe(pj, gj))
            if "vertices" in labels:
                errors["pve"].append(pve(out.vertices[p_sel].float().cpu(), labels["vertices"][g_sel],
                                         pj[:, 0], gj[:, 0]))
    model.train(was_training)
    result = {k: float(torch.cat(v).mean() * 1000) if v else float("nan") for k, v in errors.items()}
    result.update(detection_recall=counts.recall, detection_precision=counts.precision, detection_f1=counts.f1,
                  num_images=count, num_people=counts.num_ground_truth, num_matched=counts.true_positives,
                  num_detections=counts.num_predictions, teacher_forced=teacher_forced)
    return result


@torch.no_grad()
def evaluate_template_baseline(model: MultiHMRForMeshRecovery, dataset, max_items: int | None = None) -> dict:
    """Trivial baseline for :func:`evaluate_mesh_recovery`: every GT person is given the head's starting body
    (``init_body_pose``: Anny's rest pose stood up facing the camera; SMPL-X: zero pose) with neutral shape
    (Anny phenotypes 0.5 / SMPL-X betas 0), i.e. what a model that learned no pose or shape would output.
    Returns root-centred MPJPE, PA-MPJPE and PVE in millimetres over all GT people."""
    count = len(dataset) if max_items is None else min(len(dataset), max_items)
    if count == 0:
        raise ValueError("evaluate_template_baseline needs a non-empty dataset")
    config = model.config
    collator = MultiHMRCollator(config.image_size, config.patch_size, config.body_model)
    labels = collator([dataset[i] for i in range(count)])["labels"]
    n = labels["joints_3d"].shape[0]
    head = model.multi_hmr.head
    if config.body_model == "anny":
        from nlv_hf.body.rotations import rot6d_to_rotmat

        rot = rot6d_to_rotmat(head.init_body_pose.float().reshape(1, config.num_rotations, 6), layout="columns")
        body = model.body_model(rot.expand(n, -1, -1, -1), torch.full((n, config.num_betas), 0.5))
    else:
        body = model.body_model(torch.zeros(n, config.num_rotations, 3), torch.zeros(n, config.num_betas))
    gt_j, pred_j = labels["joints_3d"], body["joints"]
    result = {"mpjpe": float(mpjpe(pred_j, gt_j).mean() * 1000),
              "pa_mpjpe": float(pa_mpjpe(pred_j, gt_j).mean() * 1000), "num_people": int(n), "num_images": int(count)}
    if "vertices" in labels:
        result["pve"] = float(pve(body["vertices"], labels["vertices"], pred_j[:, 0], gt_j[:, 0]).mean() * 1000)
    return result


# -------------------------------------------------------------------------------------------------- entry point
def train_multi_hmr(argv: list[str] | None = None) -> dict:
    """``nlv-hf train multi-hmr`` entry point. Returns the train metrics (plus ``mesh_recovery`` when evaluated)."""
    (model_args, data_args, training_args), _ = parse_recipe_args(
        (MultiHMRModelArguments, MultiHMRDataArguments, TrainingArguments), argv, defaults=RECIPE_DEFAULTS,
        prog="nlv-hf train multi-hmr")
    previous_threads = torch.get_num_threads()
    if data_args.torch_num_threads > 0:
        torch.set_num_threads(data_args.torch_num_threads)
    try:
        return _train(model_args, data_args, training_args)
    finally:
        torch.set_num_threads(previous_threads)


def _train(model_args, data_args, training_args) -> dict:
    set_seed(training_args.seed)
    model = build_model(model_args)
    if data_args.smplx_path:
        model._smplx_path = data_args.smplx_path  # the licensed SMPL-X file (never written to the saved config)
    model.loss_weights = loss_weights(data_args)
    config = model.config
    train_dataset, eval_dataset = build_datasets(data_args, config.image_size, config.body_model, training_args)
    with_meshes = any(getattr(data_args, f"alpha_{k}") for k in ("j3d", "v3d", "j2d", "v2d"))
    collator = MultiHMRCollator(config.image_size, config.patch_size, config.body_model, with_meshes=with_meshes)
    trainer = build_trainer(model, training_args, train_dataset, data_collator=collator,
                            callbacks=[LossScheduleCallback(model, data_args),
                                       WallTimeCallback(data_args.max_train_minutes)])
    processor = MultiHMRImageProcessor(image_size=config.image_size, default_fov=config.default_fov)
    metrics = run_trainer(trainer, training_args, processor=processor)
    if data_args.evaluate_mesh_recovery and eval_dataset is not None and trainer.is_world_process_zero():
        result = evaluate_mesh_recovery(trainer.model, eval_dataset,
                                        detection_threshold=data_args.eval_detection_threshold)
        metrics["mesh_recovery"] = result
        Path(training_args.output_dir, "mesh_recovery_eval.json").write_text(json.dumps(result, indent=2) + "\n")
        logger.info("held-out mesh recovery: %s", result)
    return metrics


def main(argv: list[str] | None = None) -> None:
    train_multi_hmr(argv)


__all__ = ["LossScheduleCallback", "MultiHMRCollator", "MultiHMRDataArguments", "MultiHMRModelArguments",
           "PeopleDataset", "WallTimeCallback", "anny_sample_to_people", "build_datasets", "build_model",
           "evaluate_mesh_recovery", "evaluate_template_baseline", "loss_weights", "procedural_config",
           "train_multi_hmr"]
