"""CroCo pretraining recipe: ``nlv-hf train croco-pretrain [--config file.yaml] [flags…]``.

Upstream ``pretrain.py`` defaults are the defaults here: ``CroCoNet()`` (ViT-B encoder, small decoder, cosine position
embeddings; pass ``--pos_embed RoPE100`` for CroCo v2), mask ratio 0.9, normalised-pixel loss, AdamW with betas
(0.9, 0.95) and weight decay 0.05 (none on biases and norms), learning rate ``base_learning_rate × global batch /
256`` with ``base_learning_rate = 1.5e-4``, 400 epochs with a linear warm-up over the first 10 % (upstream: 40
epochs) then the first part of a cosine: upstream's cosine is 800 epochs long and training stops at 400, which is
``lr_scheduler_kwargs={"num_cycles": (400 - 40) / (2 * (800 - 40))}`` here (the learning rate ends at 54 % of its
peak; pass ``'{"num_cycles": 0.5}'`` for a full decay to 0), batch 64 per device, 224×224 independent random crops
of each image and independent colour jitter (brightness/contrast/saturation in [0.6, 1.4]).

Data: procedural multi-view pairs (:mod:`nlv_hf.data.multiview`) by default, or image pairs in the upstream on-disk
format from ``--data_dir`` (read with the ``croco_pairs`` builder; ``--streaming`` reads them lazily).
The randomness of every item is a function of (seed, epoch, index) and the masks come from the Trainer-managed RNG,
so ``--resume_from_checkpoint`` continues with exactly the loss curve of an uninterrupted run.

Runs unchanged under ``accelerate launch`` / ``torchrun`` (one process per device; gloo on CPU). Several CPU
processes: ``accelerate launch --multi_gpu --num_processes 2 -m nlv_hf.cli train croco-pretrain --use_cpu true …``
or ``torchrun --nproc_per_node 2 -m nlv_hf.cli train croco-pretrain --use_cpu true …`` (accelerate's ``--cpu`` flag
alone starts a single process unless an MPI host file is given).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import TrainingArguments, set_seed

from nlv_hf.data.augment import CroCoPairTransform
from nlv_hf.data.multiview import ProceduralPairDataset
from nlv_hf.models.croco import CroCoConfig, CroCoForPretraining
from nlv_hf.models.croco.image_processing_croco import CroCoImageProcessor
from nlv_hf.models.croco.modeling_croco import masked_patch_mse_loss

from .recipe import build_trainer, parse_recipe_args, run_trainer

logger = logging.getLogger(__name__)

# upstream pretrain.py values that are TrainingArguments fields
RECIPE_DEFAULTS = {
    "per_device_train_batch_size": 64,
    "adam_beta1": 0.9,
    "adam_beta2": 0.95,
    "weight_decay": 0.05,
    "lr_scheduler_type": "cosine",
    "lr_scheduler_kwargs": {"num_cycles": (400 - 40) / (2 * (800 - 40))},  # cosine over 800 epochs, stop at 400
    "warmup_steps": 0.1,  # 40 of the 400 epochs trained
    "num_train_epochs": 400,
    "save_total_limit": 2,
    "logging_steps": 20,
    "report_to": "none",
    "dataloader_drop_last": True,
}


@dataclass
class CroCoModelArguments:
    model_name_or_path: str | None = field(default=None, metadata={
        "help": "start from a saved CroCoForPretraining folder (or a converted official checkpoint) instead of a "
                "fresh model built from the fields below"})
    patch_size: int = 16
    encoder_hidden_size: int = 768
    encoder_num_hidden_layers: int = 12
    encoder_num_attention_heads: int = 12
    decoder_hidden_size: int = 512
    decoder_num_hidden_layers: int = 8
    decoder_num_attention_heads: int = 16
    mlp_ratio: float = 4.0
    pos_embed: str = field(default="cosine", metadata={"help": "'cosine' (CroCo v1) or 'RoPE100' (CroCo v2)"})
    mask_ratio: float = 0.9
    norm_pix_loss: bool = True
    attn_implementation: str = field(default="sdpa", metadata={"help": "sdpa | eager"})


@dataclass
class CroCoDataArguments:
    data_dir: str | None = field(default=None, metadata={
        "help": "folder of image pairs in the upstream format (pairs.txt / listing.txt / *_1.jpeg + *_2.jpeg); "
                "procedural pairs when absent"})
    streaming: bool = field(default=False, metadata={"help": "read --data_dir lazily (needs --max_steps)"})
    crop_size: int = field(default=224, metadata={"help": "training crop (upstream crop224)"})
    color_jitter: bool = field(default=True, metadata={"help": "independent colour jitter (upstream acolor)"})
    base_learning_rate: float = field(default=1.5e-4, metadata={
        "help": "learning rate per 256 images of global batch, used unless --learning_rate is given"})
    num_train_pairs: int = field(default=100_000, metadata={"help": "procedural training pairs"})
    num_eval_pairs: int = field(default=64, metadata={"help": "procedural held-out pairs (seed data_seed + 1)"})
    render_size: int = field(default=256, metadata={"help": "procedural render size (upstream renders at 256)"})
    scene_seed: int = field(default=0, metadata={"help": "seed of the procedural training scenes"})
    max_baseline: float = field(default=1.0, metadata={"help": "procedural camera baseline (world units)"})
    cache_pairs: bool = field(default=False, metadata={"help": "keep rendered procedural pairs in memory"})
    evaluate_reconstruction: bool = field(default=True, metadata={
        "help": "after training, measure the held-out masked loss vs the mean-patch baseline "
                "(written to reconstruction_eval.json)"})
    torch_num_threads: int = field(default=0, metadata={"help": "torch.set_num_threads (0: leave as is)"})


# -------------------------------------------------------------------------------------------------- data helpers
class PairRowsDataset(torch.utils.data.Dataset):
    """A map-style dataset of rows ``{"image_1": PIL, "image_2": PIL}`` (e.g. the croco_pairs builder's output)
    passed through a pair transform with a per-(epoch, index) seed."""

    def __init__(self, rows, transform: CroCoPairTransform):
        self.rows = rows
        self.transform = transform

    def __len__(self):
        return len(self.rows)

    def set_epoch(self, epoch: int):
        self.transform.set_epoch(epoch)

    def __getitem__(self, index):
        row = self.rows[int(index)]
        return self.transform(row["image_1"], row["image_2"], int(index))


class StreamingPairsDataset(torch.utils.data.IterableDataset):
    """Streams rows of a ``datasets.IterableDataset`` of pairs through a pair transform (index = position)."""

    def __init__(self, rows, transform: CroCoPairTransform):
        self.rows = rows
        self.transform = transform
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = int(epoch)
        self.transform.set_epoch(epoch)
        if hasattr(self.rows, "set_epoch"):
            self.rows.set_epoch(epoch)

    def __iter__(self):
        for index, row in enumerate(self.rows):
            yield self.transform(row["image_1"], row["image_2"], index)


class ProceduralTransformed(torch.utils.data.Dataset):
    """Procedural pairs through the pair transform (the transform seeds each item from its index)."""

    def __init__(self, pairs: ProceduralPairDataset, transform: CroCoPairTransform):
        self.pairs = pairs
        self.transform = transform

    def __len__(self):
        return len(self.pairs)

    def set_epoch(self, epoch: int):
        self.transform.set_epoch(epoch)

    def __getitem__(self, index):
        image_1, image_2 = self.pairs.pair(int(index))
        return self.transform(image_1, image_2, int(index))


def build_datasets(data_args: CroCoDataArguments, seed: int = 0, training_args: TrainingArguments | None = None):
    """(train dataset, held-out eval dataset or None) for the recipe's data arguments. With ``training_args`` the
    pairs folder is prepared by the main process first (the others then read its cache)."""
    train_tf = CroCoPairTransform(data_args.crop_size, color_jitter=data_args.color_jitter, seed=seed)
    eval_tf = CroCoPairTransform(data_args.crop_size, random_crop=False, color_jitter=False, seed=seed)
    if data_args.data_dir is not None:
        from nlv_hf.data.croco_pairs import CroCoPairs

        builder = CroCoPairs(data_dir=data_args.data_dir)
        if data_args.streaming:
            rows = builder.as_streaming_dataset(split="train")
            return StreamingPairsDataset(rows, train_tf), None
        if training_args is not None:
            with training_args.main_process_first(desc="prepare the image pairs"):
                builder.download_and_prepare()
        else:
            builder.download_and_prepare()
        splits = builder.as_dataset()
        train = PairRowsDataset(splits["train"], train_tf)
        evald = PairRowsDataset(splits["validation"], eval_tf) if "validation" in splits else None
        return train, evald
    if data_args.render_size < data_args.crop_size:
        raise ValueError(f"render_size ({data_args.render_size}) must be >= crop_size ({data_args.crop_size})")
    train_pairs = ProceduralPairDataset(data_args.num_train_pairs, data_args.render_size, seed=data_args.scene_seed,
                                        max_baseline=data_args.max_baseline, cache=data_args.cache_pairs)
    train = ProceduralTransformed(train_pairs, train_tf)
    evald = None
    if data_args.num_eval_pairs > 0:
        eval_pairs = ProceduralPairDataset(data_args.num_eval_pairs, data_args.render_size,
                                           seed=data_args.scene_seed + 1, max_baseline=data_args.max_baseline)
        evald = ProceduralTransformed(eval_pairs, eval_tf)
    return train, evald


def build_model(model_args: CroCoModelArguments, crop_size: int) -> CroCoForPretraining:
    if model_args.model_name_or_path:
        return CroCoForPretraining.from_pretrained(model_args.model_name_or_path,
                                                   attn_implementation=model_args.attn_implementation)
    config = CroCoConfig(
        image_size=crop_size, patch_size=model_args.patch_size, mask_ratio=model_args.mask_ratio,
        encoder_hidden_size=model_args.encoder_hidden_size,
        encoder_num_hidden_layers=model_args.encoder_num_hidden_layers,
        encoder_num_attention_heads=model_args.encoder_num_attention_heads,
        decoder_hidden_size=model_args.decoder_hidden_size,
        decoder_num_hidden_layers=model_args.decoder_num_hidden_layers,
        decoder_num_attention_heads=model_args.decoder_num_attention_heads,
        mlp_ratio=model_args.mlp_ratio, pos_embed=model_args.pos_embed, norm_pix_loss=model_args.norm_pix_loss,
        attn_implementation=model_args.attn_implementation,
    )
    return CroCoForPretraining(config)


# -------------------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def evaluate_reconstruction(model: CroCoForPretraining, dataset, batch_size: int = 16, mask_seed: int = 0,
                            max_items: int | None = None, mismatched_second_view: bool = False) -> dict:
    """Held-out masked reconstruction loss of ``model`` vs the mean-patch baseline, with fixed seeded masks.

    ``dataset`` yields ``{"pixel_values", "pixel_values_2"}``. The baseline predicts, for every hidden patch, the mean
    target patch of the whole evaluated set (an oracle constant: the best constant predictor under this loss).
    Both use the model's loss (normalised pixels when ``config.norm_pix_loss``). With ``mismatched_second_view`` pair
    ``i`` is given the second view of pair ``i + 1`` (another scene): the gap to the paired loss measures how much the
    model uses the second view. Returns ``{"loss", "mean_patch_loss", "ratio", "num_pairs"}`` (``ratio`` = loss /
    mean_patch_loss)."""
    count = len(dataset) if max_items is None else min(len(dataset), max_items)
    if count == 0:
        raise ValueError("evaluate_reconstruction needs a non-empty dataset")
    if mismatched_second_view and count < 2:
        raise ValueError("mismatched_second_view needs at least 2 pairs")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(mask_seed)
    items = [dataset[i] for i in range(count)]
    first = torch.stack([it["pixel_values"] for it in items])
    second = torch.stack([it["pixel_values_2"] for it in items])
    if mismatched_second_view:
        second = second.roll(-1, dims=0)
    p = model.config.patch_size
    noise = torch.rand(count, (first.shape[-2] // p) * (first.shape[-1] // p), generator=generator)
    preds, targets, masks = [], [], []
    for start in range(0, count, batch_size):
        px = first[start:start + batch_size].to(device)
        px2 = second[start:start + batch_size].to(device)
        out = model(pixel_values=px, pixel_values_2=px2, noise=noise[start:start + batch_size].to(device))
        target = model.patchify(px).float()
        if model.config.norm_pix_loss:
            target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6) ** 0.5
        preds.append(out.logits.float().cpu())
        targets.append(target.cpu())
        masks.append(out.bool_masked_pos.cpu())
    pred, target, mask = torch.cat(preds), torch.cat(targets), torch.cat(masks)
    loss = masked_patch_mse_loss(pred, target, mask, norm_pix_loss=False)
    mean_patch = target[mask].mean(dim=0)
    baseline = masked_patch_mse_loss(mean_patch.expand_as(target), target, mask, norm_pix_loss=False)
    model.train(was_training)
    return {"loss": float(loss), "mean_patch_loss": float(baseline), "ratio": float(loss / baseline),
            "num_pairs": int(count)}


def evaluate_model_dir(model_dir: str, num_pairs: int = 64, render_size: int = 144, crop_size: int | None = None,
                       scene_seed: int = 1, batch_size: int = 16, mask_seed: int = 0,
                       mismatched_second_view: bool = False) -> dict:
    """:func:`evaluate_reconstruction` of a saved ``CroCoForPretraining`` folder on held-out procedural pairs
    (scenes ``(scene_seed, i)``, centre crops of ``crop_size`` — the model's ``image_size`` by default — from
    ``render_size`` renders, no colour jitter). The recipe trains on ``scene_seed=0`` and evaluates on 1."""
    model = CroCoForPretraining.from_pretrained(model_dir)
    crop = crop_size or model.config.image_size[0]
    data = ProceduralTransformed(ProceduralPairDataset(num_pairs, render_size, seed=scene_seed),
                                 CroCoPairTransform(crop, random_crop=False, color_jitter=False))
    return evaluate_reconstruction(model, data, batch_size=batch_size, mask_seed=mask_seed,
                                   mismatched_second_view=mismatched_second_view)


# -------------------------------------------------------------------------------------------------- entry point
def train_croco_pretrain(argv: list[str] | None = None) -> dict:
    """``nlv-hf train croco-pretrain`` entry point. Returns the train metrics (plus ``reconstruction`` when
    evaluated)."""
    (model_args, data_args, training_args), explicit = parse_recipe_args(
        (CroCoModelArguments, CroCoDataArguments, TrainingArguments), argv, defaults=RECIPE_DEFAULTS,
        prog="nlv-hf train croco-pretrain")
    previous_threads = torch.get_num_threads()
    if data_args.torch_num_threads > 0:
        torch.set_num_threads(data_args.torch_num_threads)
    try:
        return _train(model_args, data_args, training_args, explicit)
    finally:
        torch.set_num_threads(previous_threads)


def _train(model_args, data_args, training_args, explicit) -> dict:
    if data_args.streaming and training_args.max_steps <= 0:
        raise ValueError("--streaming needs --max_steps (a streamed data set has no length)")
    if "learning_rate" not in explicit:
        global_batch = (training_args.per_device_train_batch_size * training_args.world_size
                        * training_args.gradient_accumulation_steps)
        training_args.learning_rate = data_args.base_learning_rate * global_batch / 256
    set_seed(training_args.seed)
    model = build_model(model_args, data_args.crop_size)
    train_dataset, eval_dataset = build_datasets(data_args, seed=training_args.seed, training_args=training_args)
    trainer_eval = None if training_args.eval_strategy == "no" else eval_dataset
    trainer = build_trainer(model, training_args, train_dataset, eval_dataset=trainer_eval)
    processor = CroCoImageProcessor(size={"shortest_edge": data_args.crop_size},
                                    crop_size={"height": data_args.crop_size, "width": data_args.crop_size},
                                    patch_size=model.config.patch_size)
    metrics = run_trainer(trainer, training_args, processor=processor)
    if data_args.evaluate_reconstruction and eval_dataset is not None and trainer.is_world_process_zero():
        result = evaluate_reconstruction(trainer.model, eval_dataset)
        metrics["reconstruction"] = result
        Path(training_args.output_dir, "reconstruction_eval.json").write_text(json.dumps(result, indent=2) + "\n")
        logger.info("held-out reconstruction: %s", result)
    return metrics


def main(argv: list[str] | None = None) -> None:
    train_croco_pretrain(argv)


__all__ = ["CroCoDataArguments", "CroCoModelArguments", "build_datasets", "build_model", "evaluate_model_dir",
           "evaluate_reconstruction", "train_croco_pretrain"]
