"""CroCo-Stereo / CroCo-Flow fine-tuning recipes:
``nlv-hf train croco-stereo|croco-flow [--config file.yaml] [flags…]``.

Upstream ``stereoflow/train.py`` defaults are the defaults here: AdamW with betas (0.9, 0.95) and weight decay 0.05
(none on biases and norms — the Trainer's rule), one warm-up epoch then half-cosine decay, seed 0, fp32;
stereo: crop 352×704, batch 6, learning rate 3e-5, 32 epochs, ``LaplacianLossBounded2``; flow: crop 320×384, batch 8,
learning rate 2e-5, 240 epochs, ``LaplacianLossBounded``. The model is a ViT-L encoder + Base decoder (CroCo v2)
initialised from a pretraining checkpoint given with ``--pretrained <converted folder or official .pth>`` (its
backbone shape then overrides the ``--encoder_*`` / ``--decoder_*`` flags, as upstream builds the model from the
checkpoint's arguments); without it the model starts from scratch. Augmentations:
:mod:`nlv_hf.data.stereo_flow_augment` (upstream ``StereoAugmentor`` / ``FlowAugmentor``).

Data: procedural pairs with exact ground truth (:mod:`nlv_hf.data.stereo_flow`) by default, or any stereo/flow
builder of ``dataset_scripts/`` with ``--dataset <name> --data_dir <folder>`` (``--dataset_config`` picks its config).
The randomness of every item is a function of (seed, epoch, index), so ``--resume_from_checkpoint`` continues with
exactly the loss curve of an uninterrupted run. After training, the model is evaluated with the tiled pipeline on
held-out procedural pairs (``stereo_flow_eval.json``: EPE, bad-N… and the zero / GT-mean baselines).

Runs unchanged under ``accelerate launch`` / ``torchrun`` (one process per device; gloo on CPU), e.g.
``accelerate launch --multi_gpu --num_processes 2 -m nlv_hf.cli train croco-stereo --use_cpu true …``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import TrainerCallback, TrainingArguments, set_seed

from nlv_hf.data.stereo_flow import ProceduralFlowDataset, ProceduralStereoDataset
from nlv_hf.data.stereo_flow_augment import FlowAugmentor, StereoAugmentor
from nlv_hf.models.croco import CroCoFlowConfig, CroCoForOpticalFlow, CroCoForStereoMatching, CroCoStereoConfig
from nlv_hf.models.croco.image_processing_croco import CroCoImageProcessor

from .recipe import build_trainer, parse_recipe_args, run_trainer

logger = logging.getLogger(__name__)

TASKS = {
    "stereo": {"model": CroCoForStereoMatching, "config": CroCoStereoConfig, "augmentor": StereoAugmentor,
               "procedural": ProceduralStereoDataset},
    "flow": {"model": CroCoForOpticalFlow, "config": CroCoFlowConfig, "augmentor": FlowAugmentor,
             "procedural": ProceduralFlowDataset},
}

_COMMON_DEFAULTS = {
    "adam_beta1": 0.9,
    "adam_beta2": 0.95,
    "weight_decay": 0.05,
    "lr_scheduler_type": "cosine",
    "save_total_limit": 2,
    "logging_steps": 20,
    "report_to": "none",
    "dataloader_drop_last": True,
    "seed": 0,
}
# upstream README training commands (one warm-up epoch of the cosine schedule, expressed as a ratio)
RECIPE_DEFAULTS = {
    "stereo": {**_COMMON_DEFAULTS, "per_device_train_batch_size": 6, "learning_rate": 3e-5, "num_train_epochs": 32,
               "warmup_steps": 1 / 32},
    "flow": {**_COMMON_DEFAULTS, "per_device_train_batch_size": 8, "learning_rate": 2e-5, "num_train_epochs": 240,
             "warmup_steps": 1 / 240},
}
CROP_DEFAULTS = {"stereo": (352, 704), "flow": (320, 384)}


@dataclass
class StereoFlowModelArguments:
    pretrained: str | None = field(default=None, metadata={
        "help": "CroCo v2 pretraining checkpoint to start from: a converted/saved CroCo folder or an official .pth "
                "(its backbone shape is used)"})
    model_name_or_path: str | None = field(default=None, metadata={
        "help": "continue from a saved CroCo-Stereo / CroCo-Flow folder instead"})
    encoder_hidden_size: int = 1024
    encoder_num_hidden_layers: int = 24
    encoder_num_attention_heads: int = 16
    decoder_hidden_size: int = 768
    decoder_num_hidden_layers: int = 12
    decoder_num_attention_heads: int = 12
    mlp_ratio: float = 4.0
    dpt_layer_dims: str = field(default="96,192,384,768", metadata={"help": "4 comma-separated DPT widths"})
    dpt_feature_dim: int = 256
    dpt_last_dim: int = 32
    loss_type: str | None = field(default=None, metadata={
        "help": "laplacian_bounded2 (stereo default) | laplacian_bounded (flow default) | laplacian | l1"})
    attn_implementation: str = field(default="sdpa", metadata={"help": "sdpa | eager"})


@dataclass
class StereoFlowDataArguments:
    dataset: str | None = field(default=None, metadata={
        "help": "a dataset_scripts builder (middlebury, eth3d, kitti, sceneflow, sintel, flyingchairs, spring); "
                "procedural pairs when absent"})
    data_dir: str | None = field(default=None, metadata={"help": "the data set in its official layout"})
    dataset_config: str | None = field(default=None, metadata={"help": "builder config (e.g. 2014, 2015_flow)"})
    dataset_split: str = "train"
    crop_height: int | None = field(default=None, metadata={"help": "training crop (stereo 352, flow 320)"})
    crop_width: int | None = field(default=None, metadata={"help": "training crop (stereo 704, flow 384)"})
    augment: bool = field(default=True, metadata={"help": "upstream geometric + colour augmentations"})
    min_scale: float | None = field(default=None, metadata={"help": "log2 scale range (stereo -0.2, flow -0.2)"})
    max_scale: float | None = field(default=None, metadata={"help": "log2 scale range (stereo 0.4, flow 0.5)"})
    num_train_pairs: int = field(default=20_000, metadata={"help": "procedural training pairs"})
    num_eval_pairs: int = field(default=32, metadata={"help": "procedural held-out pairs (scene_seed + 1)"})
    render_height: int | None = field(default=None, metadata={"help": "procedural render size (crop + 1/4)"})
    render_width: int | None = field(default=None, metadata={"help": "procedural render size (crop + 1/4)"})
    max_disparity: float = field(default=32.0, metadata={"help": "procedural stereo: largest disparity (px)"})
    max_motion: float = field(default=12.0, metadata={"help": "procedural flow: largest translation (px)"})
    scene_seed: int = field(default=0, metadata={"help": "seed of the procedural training scenes"})
    cache_pairs: bool = field(default=False, metadata={"help": "keep rendered procedural pairs in memory"})
    evaluate_after_training: bool = field(default=True, metadata={
        "help": "tiled evaluation on the held-out procedural pairs (stereo_flow_eval.json)"})
    torch_num_threads: int = field(default=0, metadata={"help": "torch.set_num_threads (0: leave as is)"})
    max_train_minutes: float = field(default=0.0, metadata={
        "help": "stop training (and save) after this many minutes of wall time (0: no limit); a safety net for "
                "shared machines — the schedule still follows --max_steps / --num_train_epochs"})


class WallTimeLimit(TrainerCallback):
    """Stops training once ``minutes`` of wall time have passed since training began."""

    def __init__(self, minutes: float):
        self.seconds = 60.0 * float(minutes)
        self.start = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.start is not None and time.monotonic() - self.start > self.seconds:
            logger.warning("wall-time limit of %.1f min reached at step %d: stopping", self.seconds / 60,
                           state.global_step)
            control.should_training_stop = True
        return control


# -------------------------------------------------------------------------------------------------- data
class AugmentedPairs(torch.utils.data.Dataset):
    """Examples ``{"pixel_values", "pixel_values_2", "labels"}`` (images in [0, 1]) through an augmentor seeded per
    (epoch, index); optionally cached before augmentation."""

    def __init__(self, source, augmentor, cache: bool = False):
        self.source = source
        self.augmentor = augmentor
        self.cache = {} if cache else None

    def __len__(self):
        return len(self.source)

    def set_epoch(self, epoch: int):
        self.augmentor.set_epoch(epoch)

    def _raw(self, index):
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        item = self.source[index]
        item = {k: item[k] for k in ("pixel_values", "pixel_values_2", "labels")}
        if item["labels"] is None:
            raise ValueError(f"example {index} has no ground truth; train on a split with labels")
        if self.cache is not None:
            self.cache[index] = item
        return item

    def __getitem__(self, index):
        return self.augmentor(self._raw(int(index)), int(index))


def crop_size(task: str, data_args: StereoFlowDataArguments) -> tuple[int, int]:
    default = CROP_DEFAULTS[task]
    return (data_args.crop_height or default[0], data_args.crop_width or default[1])


def procedural_pairs(task: str, num_pairs: int, height: int, width: int, seed: int,
                     data_args: StereoFlowDataArguments):
    kwargs = {"max_disparity": data_args.max_disparity} if task == "stereo" else {"max_motion": data_args.max_motion}
    return TASKS[task]["procedural"](num_pairs, height=height, width=width, seed=seed, **kwargs)


def build_datasets(task: str, data_args: StereoFlowDataArguments, seed: int = 0,
                   training_args: TrainingArguments | None = None):
    """(augmented training set, held-out procedural set or None) for the data arguments."""
    crop = crop_size(task, data_args)
    aug_kwargs = {k: getattr(data_args, k) for k in ("min_scale", "max_scale") if getattr(data_args, k) is not None}
    augmentor = TASKS[task]["augmentor"](crop, augment=data_args.augment, seed=seed, **aug_kwargs)
    render = (data_args.render_height or crop[0] + crop[0] // 4, data_args.render_width or crop[1] + crop[1] // 4)
    if data_args.dataset is not None:
        if not data_args.data_dir:
            raise ValueError(f"--dataset {data_args.dataset} needs --data_dir <folder in the official layout>")
        from nlv_hf.data.builder_registry import load_stereo_flow_split

        def load():
            return load_stereo_flow_split(data_args.dataset, data_args.data_dir, task, data_args.dataset_split,
                                          data_args.dataset_config)

        if training_args is not None:
            with training_args.main_process_first(desc="prepare the data set"):
                source = load()
        else:
            source = load()
        train = AugmentedPairs(source, augmentor, cache=data_args.cache_pairs)
    else:
        if render[0] < crop[0] or render[1] < crop[1]:
            raise ValueError(f"render size {render} must be at least the crop size {crop}")
        source = procedural_pairs(task, data_args.num_train_pairs, *render, data_args.scene_seed, data_args)
        train = AugmentedPairs(source, augmentor, cache=data_args.cache_pairs)
    evald = None
    if data_args.num_eval_pairs > 0:
        evald = procedural_pairs(task, data_args.num_eval_pairs, *render, data_args.scene_seed + 1, data_args)
    return train, evald


# -------------------------------------------------------------------------------------------------- model
def load_pretrained_croco(path: str):
    """A CroCo v2 pretraining model from a saved/converted folder or an official ``.pth`` checkpoint."""
    from nlv_hf.models.croco import CroCoForPretraining, CroCoModel

    source = Path(path)
    if source.is_dir():
        try:
            return CroCoForPretraining.from_pretrained(str(source))
        except (OSError, ValueError):
            return CroCoModel.from_pretrained(str(source))
    if source.is_file():
        return CroCoForPretraining.from_original(str(source))
    raise ValueError(f"--pretrained {path} is neither a saved CroCo folder nor a checkpoint file")


def build_model(task: str, model_args: StereoFlowModelArguments, crop: tuple[int, int]):
    spec = TASKS[task]
    if model_args.model_name_or_path:
        return spec["model"].from_pretrained(model_args.model_name_or_path,
                                             attn_implementation=model_args.attn_implementation)
    backbone = {name: getattr(model_args, name) for name in (
        "encoder_hidden_size", "encoder_num_hidden_layers", "encoder_num_attention_heads", "decoder_hidden_size",
        "decoder_num_hidden_layers", "decoder_num_attention_heads", "mlp_ratio")}
    croco = None
    if model_args.pretrained:
        croco = load_pretrained_croco(model_args.pretrained)
        pretrained_config = croco.config
        if str(pretrained_config.pos_embed) != "RoPE100":
            raise ValueError(f"CroCo-Stereo/Flow start from a CroCo v2 (RoPE100) checkpoint; {model_args.pretrained} "
                             f"uses pos_embed={pretrained_config.pos_embed!r}")
        if pretrained_config.patch_size != 16:
            raise ValueError(f"the DPT head needs patch size 16; {model_args.pretrained} has "
                             f"{pretrained_config.patch_size}")
        backbone = {name: getattr(pretrained_config, name) for name in backbone}
        backbone["norm_im2_in_dec"] = getattr(pretrained_config, "norm_im2_in_dec", True)
    try:
        dims = [int(v) for v in str(model_args.dpt_layer_dims).split(",")]
    except ValueError:
        raise ValueError(f"--dpt_layer_dims must be 4 comma-separated integers, got {model_args.dpt_layer_dims!r}") \
            from None
    extra = {"loss_type": model_args.loss_type} if model_args.loss_type else {}
    config = spec["config"](image_size=list(crop), crop_size=list(crop), patch_size=16, pos_embed="RoPE100",
                            dpt_layer_dims=dims, dpt_feature_dim=model_args.dpt_feature_dim,
                            dpt_last_dim=model_args.dpt_last_dim, attn_implementation=model_args.attn_implementation,
                            **backbone, **extra)
    model = spec["model"](config)
    if croco is not None:
        model.load_pretrained_backbone(croco)
    return model


def image_processor() -> CroCoImageProcessor:
    """The processor saved with the models: ImageNet normalisation only (the pipeline tiles full-size images)."""
    return CroCoImageProcessor(do_resize=False, do_center_crop=False, patch_size=1)


# -------------------------------------------------------------------------------------------------- entry point
def train_croco_stereo_flow(task: str, argv: list[str] | None = None) -> dict:
    """``nlv-hf train croco-stereo|croco-flow``. Returns the train metrics (plus ``evaluation`` when evaluated)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    (model_args, data_args, training_args), _ = parse_recipe_args(
        (StereoFlowModelArguments, StereoFlowDataArguments, TrainingArguments), argv,
        defaults=RECIPE_DEFAULTS[task], prog=f"nlv-hf train croco-{task}")
    previous_threads = torch.get_num_threads()
    if data_args.torch_num_threads > 0:
        torch.set_num_threads(data_args.torch_num_threads)
    try:
        return _train(task, model_args, data_args, training_args)
    finally:
        torch.set_num_threads(previous_threads)


def _train(task, model_args, data_args, training_args) -> dict:
    set_seed(training_args.seed)
    crop = crop_size(task, data_args)
    model = build_model(task, model_args, crop)
    train_dataset, eval_dataset = build_datasets(task, data_args, seed=training_args.seed,
                                                 training_args=training_args)
    callbacks = [WallTimeLimit(data_args.max_train_minutes)] if data_args.max_train_minutes > 0 else []
    trainer = build_trainer(model, training_args, train_dataset, callbacks=callbacks)
    metrics = run_trainer(trainer, training_args, processor=image_processor())
    if data_args.evaluate_after_training and eval_dataset is not None and trainer.is_world_process_zero():
        from nlv_hf.evaluation.stereo_flow import evaluate_stereo_flow

        result = evaluate_stereo_flow(trainer.model, eval_dataset, baselines=True)
        metrics["evaluation"] = result
        Path(training_args.output_dir, "stereo_flow_eval.json").write_text(json.dumps(result, indent=2) + "\n")
        logger.info("held-out procedural evaluation: %s", result)
    return metrics


def main_stereo(argv: list[str] | None = None) -> None:
    train_croco_stereo_flow("stereo", argv)


def main_flow(argv: list[str] | None = None) -> None:
    train_croco_stereo_flow("flow", argv)


__all__ = ["AugmentedPairs", "StereoFlowDataArguments", "StereoFlowModelArguments", "build_datasets", "build_model",
           "load_pretrained_croco", "main_flow", "main_stereo", "train_croco_stereo_flow"]
