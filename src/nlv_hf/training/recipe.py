"""Pieces shared by every training recipe: argument parsing (dataclasses + ``TrainingArguments`` through
``HfArgumentParser``, with ``--config file.yaml|json``), recipe defaults, a quiet ``Trainer`` and the train/save/log
sequence. A recipe (``croco_pretrain``, later stereo, multi-hmr…) only defines its own argument dataclasses, builds
its model and data, and calls :func:`run_trainer`.

Precedence of values: command line > ``--config`` file > recipe defaults > dataclass defaults.
Everything here works unchanged under ``accelerate launch`` and ``torchrun``: the ``Trainer`` reads the distributed
environment itself.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from transformers import HfArgumentParser, Trainer, TrainerCallback, TrainingArguments

ParsedArgs = tuple


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a flat ``{argument: value}`` mapping from a ``.yaml``/``.yml`` or ``.json`` file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--config file {path} does not exist")
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    elif suffix == ".json":
        data = json.loads(text)
    else:
        raise ValueError(f"--config must be a .yaml, .yml or .json file, got {path.name}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"--config file {path} must hold a mapping of argument names to values, "
                         f"got {type(data).__name__}")
    return data


def parse_recipe_args(dataclass_types, argv: list[str] | None, defaults: dict[str, Any] | None = None,
                      prog: str | None = None) -> tuple[ParsedArgs, set[str]]:
    """Parse ``argv`` into one instance per dataclass (``TrainingArguments`` among them).

    ``--config FILE`` (YAML or JSON) supplies values that the command line can still override; ``defaults`` are the
    recipe's own defaults (e.g. AdamW betas). Unknown keys in the file are a ``ValueError`` naming them. Returns the
    dataclass instances and the set of argument names given explicitly (file or command line)."""
    argv = list(argv or [])
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, rest = pre.parse_known_args(argv)
    parser = HfArgumentParser(dataclass_types, prog=prog)
    parser.add_argument("--config", default=None, help="YAML or JSON file of argument values (the command line "
                                                       "overrides them)")
    dests = {action.dest for action in parser._actions}
    file_values = load_config_file(known.config) if known.config else {}
    unknown = sorted(set(file_values) - dests)
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown} in --config {known.config}; see --help for the accepted ones")
    parser.set_defaults(**{**(defaults or {}), **file_values})
    explicit = set(file_values)
    for token in rest:
        if token.startswith("--"):
            name = token[2:].split("=", 1)[0].replace("-", "_")  # --learning-rate is an alias of --learning_rate
            explicit.add(name[3:] if name.startswith("no_") and name[3:] in dests else name)
    parsed = parser.parse_args_into_dataclasses(args=rest + (["--config", known.config] if known.config else []),
                                                return_remaining_strings=False)
    return tuple(p for p in parsed if not isinstance(p, argparse.Namespace)), explicit


class EpochCallback(TrainerCallback):
    """Tells a dataset (``set_epoch``) which epoch starts, so per-item randomness can change between epochs while
    staying a pure function of (seed, epoch, index) — which keeps ``resume_from_checkpoint`` exact."""

    def __init__(self, dataset):
        self.dataset = dataset

    def on_epoch_begin(self, args, state, control, **kwargs):
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(int(math.floor(state.epoch + 1e-6)) if state.epoch else 0)


class RecipeTrainer(Trainer):
    """``Trainer`` whose ``resume_from_checkpoint`` restores every weight of a ``PreTrainedModel``.

    transformers 5 saves some sub-models under their legacy key names (e.g. ``Dinov2Model`` attention weights as
    ``attention.attention.query``) and renames them back only in ``from_pretrained``; the stock resume path loads
    the file with ``load_state_dict(strict=False)`` and silently leaves those weights at their initial values. Here
    the checkpoint is read with ``from_pretrained`` (renaming included) and copied in with a strict load."""

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        import os

        from transformers import PreTrainedModel

        target = self.accelerator.unwrap_model(model if model is not None else self.model)
        weights = os.path.join(resume_from_checkpoint, "model.safetensors")
        if (isinstance(target, PreTrainedModel) and os.path.isfile(weights) and not self.is_deepspeed_enabled
                and not self.is_fsdp_enabled):
            loaded = type(target).from_pretrained(resume_from_checkpoint, config=target.config)
            target.load_state_dict(loaded.state_dict(), strict=True)
            return
        super()._load_from_checkpoint(resume_from_checkpoint, model=model)


def build_trainer(model, training_args: TrainingArguments, train_dataset, eval_dataset=None, data_collator=None,
                  callbacks=None, compute_metrics=None) -> Trainer:
    """A ``Trainer`` for models whose output carries the loss; keeps extra dataset columns and sets per-epoch
    randomness on the training set."""
    training_args.remove_unused_columns = False
    trainer = RecipeTrainer(model=model, args=training_args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                      data_collator=data_collator, compute_metrics=compute_metrics,
                      callbacks=[EpochCallback(train_dataset), *(callbacks or [])])
    return trainer


def run_trainer(trainer: Trainer, training_args: TrainingArguments, processor=None) -> dict:
    """Train (resuming when ``--resume_from_checkpoint`` is set), save the final model (+ processor) to
    ``output_dir`` on the main process, and write ``train_results.json``. Returns the train metrics."""
    result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    metrics = dict(result.metrics)
    trainer.save_model()
    if processor is not None and trainer.is_world_process_zero():
        processor.save_pretrained(training_args.output_dir)
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    trainer.save_state()
    return metrics


__all__ = ["EpochCallback", "RecipeTrainer", "build_trainer", "load_config_file", "parse_recipe_args", "run_trainer"]
