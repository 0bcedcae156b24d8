"""Convert official CroCo-Stereo / CroCo-Flow checkpoints (naver/croco ``stereoflow/``) to nlv_hf.

    nlv-hf convert croco-stereo crocostereo.pth ./crocostereo
    nlv-hf convert croco-flow crocoflow.pth ./crocoflow

Accepted files: the 12 released ``crocostereo*.pth`` / ``crocoflow*.pth`` and any checkpoint written by upstream
``stereoflow/train.py``: ``{'model': state_dict, 'args': argparse.Namespace, ...}`` where ``args`` holds ``task``
(``'stereo'``/``'flow'``), ``croco_args`` (CroCoNet kwargs incl. ``img_size``), ``crop``, ``criterion`` (a string
such as ``"LaplacianLossBounded2()"``, parsed without ``eval``) and ``tile_conf_mode``. The DPT head registers its modules
twice upstream (``act_{1..4}_postprocess`` ≡ ``act_postprocess.{0..3}``, ``scratch.layer{1..4}_rn`` ≡
``scratch.layer_rn.{0..3}``): the duplicates are checked equal and collapsed to one copy. Loading is strict.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from nlv_hf.conversion import (
    ConversionError,
    atomic_output_dir,
    check_state_dict,
    expected_shapes,
    load_original_cached as _load_original_cached,
    rename_state_dict,
    safe_load_checkpoint,
)

from .configuration_croco_stereo_flow import CroCoFlowConfig, CroCoStereoConfig, default_dpt_hooks
from .convert_croco_original import IGNORED_KWARGS, KWARG_NAMES, UPSTREAM_DEFAULTS

# The one key-renaming table: upstream CroCoDownstreamBinocular key -> CroCoForStereoMatching/OpticalFlow key.
RENAME_RULES = [
    (r"^patch_embed\.proj\.", r"encoder.patch_embed.proj."),
    (r"^enc_blocks\.(\d+)\.", r"encoder.layers.\1."),
    (r"^enc_norm\.", r"encoder.norm."),
    (r"^decoder_embed\.", r"decoder.embed."),
    (r"^dec_blocks\.(\d+)\.", r"decoder.layers.\1."),
    (r"^dec_norm\.", r"decoder.norm."),
    (r"^head\.dpt\.act_postprocess\.", r"head.act_postprocess."),
    (r"^head\.dpt\.scratch\.layer_rn\.", r"head.layer_rn."),
    (r"^head\.dpt\.scratch\.refinenet(\d)\.resConfUnit(\d)\.", r"head.refinenet\1.res_conv_unit\2."),
    (r"^head\.dpt\.scratch\.refinenet(\d)\.out_conv\.", r"head.refinenet\1.out_conv."),
    (r"^head\.dpt\.head\.", r"head.output_head."),
]

# upstream alias key -> its canonical upstream key (the same module registered twice)
_ALIASES = [
    (re.compile(r"^head\.dpt\.act_(\d)_postprocess\.(.+)$"),
     lambda m: f"head.dpt.act_postprocess.{int(m[1]) - 1}.{m[2]}"),
    (re.compile(r"^head\.dpt\.scratch\.layer(\d)_rn\.(.+)$"),
     lambda m: f"head.dpt.scratch.layer_rn.{int(m[1]) - 1}.{m[2]}"),
]

# upstream criterion class -> our loss_type
CRITERIA = {
    "LaplacianLossBounded2": "laplacian_bounded2",
    "LaplacianLossBounded": "laplacian_bounded",
    "LaplacianLoss": "laplacian",
    "L1Loss": "l1",
}
CONFIGS = {"stereo": CroCoStereoConfig, "flow": CroCoFlowConfig}
DEFAULT_TILE_CONF_MODE = {"stereo": "conf_expsigmoid_15_3", "flow": "conf_expsigmoid_10_5"}


def collapse_aliases(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the duplicate DPT keys after checking that each equals its canonical copy (shape, and values unless the
    tensors live on the meta device); an alias without its canonical key takes its place."""
    out = dict(state_dict)
    for key in list(out):
        for pattern, canonical_of in _ALIASES:
            match = pattern.match(key)
            if match is None:
                continue
            canonical = canonical_of(match)
            alias = out.pop(key)
            if canonical not in out:
                out[canonical] = alias
            else:
                primary = out[canonical]
                same = primary.shape == alias.shape and (
                    primary.is_meta or alias.is_meta or torch.equal(primary, alias)
                )
                if not same:
                    raise ConversionError(f"checkpoint keys {key} and {canonical} should hold the same DPT weights "
                                          "(upstream registers the module twice) but differ")
            break
    return out


def parse_criterion(text) -> tuple[str, dict]:
    """``"LaplacianLossBounded(max_gtnorm=10000.)"`` → ("laplacian_bounded", {"loss_max_gtnorm": 10000.0}),
    read with ``ast`` (never ``eval``)."""
    try:
        node = ast.parse(str(text).strip(), mode="eval").body
    except SyntaxError as err:
        raise ConversionError(f"cannot parse the criterion string {text!r}: {err}") from err
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CRITERIA):
        raise ConversionError(f"unknown criterion {text!r}; known: {sorted(CRITERIA)}")
    names = {"a": "loss_a", "b": "loss_b", "max_gtnorm": "loss_max_gtnorm"}
    try:
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
        positional = [ast.literal_eval(a) for a in node.args]
    except ValueError as err:
        raise ConversionError(f"non-literal argument in the criterion {text!r}") from err
    order = ["max_gtnorm", "a", "b"]
    kwargs.update(dict(zip(order, positional)))
    unknown = set(kwargs) - set(names)
    if unknown:
        raise ConversionError(f"unknown arguments {sorted(unknown)} in the criterion {text!r}")
    return CRITERIA[node.func.id], {names[k]: v for k, v in kwargs.items()}


def _arg(args, name, default=None):
    if isinstance(args, Mapping):
        return args.get(name, default)
    return getattr(args, name, default)


def _identify(ckpt: Mapping, source: str, task: str | None) -> tuple[dict, object, str]:
    """Return (upstream state dict, args, task) or explain what the file is instead."""
    if "model_state_dict" in ckpt:
        raise ConversionError(f"{source} looks like a Multi-HMR checkpoint ('model_state_dict'); this converter "
                              "takes CroCo-Stereo / CroCo-Flow checkpoints (crocostereo*.pth, crocoflow*.pth)")
    if "model" not in ckpt or not isinstance(ckpt["model"], Mapping):
        raise ConversionError(f"{source} has no 'model' state dict (keys: {sorted(ckpt)[:10]}); expected a "
                              "CroCo-Stereo / CroCo-Flow checkpoint such as crocostereo.pth")
    state_dict = dict(ckpt["model"])
    if not any(k.startswith("head.dpt.") for k in state_dict):
        kind = "CroCo pretraining" if "mask_token" in state_dict else "non-CroCo-Stereo/Flow"
        hint = " (use `nlv-hf convert croco` for it)" if kind == "CroCo pretraining" else ""
        raise ConversionError(f"{source} is a {kind} checkpoint without a DPT head ('head.dpt.*'){hint}; expected a "
                              "CroCo-Stereo / CroCo-Flow checkpoint")
    args = ckpt.get("args")
    if args is None or _arg(args, "croco_args") is None:
        raise ConversionError(f"{source} has no ckpt['args'].croco_args; CroCo-Stereo/Flow checkpoints written by "
                              "stereoflow/train.py store the backbone arguments there")
    found = _arg(args, "task")
    if found not in ("stereo", "flow"):
        raise ConversionError(f"{source}: ckpt['args'].task is {found!r}; expected 'stereo' or 'flow'")
    if task is not None and found != task:
        raise ConversionError(f"{source} is a CroCo-{found.capitalize()} checkpoint (args.task={found!r}); use "
                              f"`nlv-hf convert croco-{found}` for it")
    return state_dict, args, found


def dpt_widths_from_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict:
    """DPT widths read from the tensor shapes (upstream cannot store them: the released models use the defaults
    ``layer_dims=[96, 192, 384, 768]``, ``feature_dim=256``, ``last_dim=32``)."""
    try:
        return {
            "dpt_layer_dims": [int(state_dict[f"head.dpt.act_postprocess.{i}.0.weight"].shape[0]) for i in range(4)],
            "dpt_feature_dim": int(state_dict["head.dpt.scratch.layer_rn.0.weight"].shape[0]),
            "dpt_last_dim": int(state_dict["head.dpt.head.2.weight"].shape[0]),
        }
    except KeyError as err:
        raise ConversionError(f"the checkpoint's DPT head lacks {err}; expected upstream PixelwiseTaskWithDPT "
                              "keys") from err


def config_from_upstream_args(args, task: str, state_dict: Mapping[str, torch.Tensor] | None = None, **overrides):
    """Build a CroCoStereoConfig / CroCoFlowConfig from the ``args`` stored in a stereo/flow checkpoint (and the DPT
    widths from its tensors when ``state_dict`` is given)."""
    croco_args = dict(_arg(args, "croco_args"))
    unknown = set(croco_args) - set(KWARG_NAMES) - IGNORED_KWARGS
    if unknown:
        raise ConversionError(f"unknown CroCoNet arguments in the checkpoint: {sorted(unknown)}; known: "
                              f"{sorted(KWARG_NAMES)}")
    merged = dict(UPSTREAM_DEFAULTS)
    merged.update({k: v for k, v in croco_args.items() if k not in IGNORED_KWARGS})
    config_kwargs = {KWARG_NAMES[k]: v for k, v in merged.items() if k != "mask_ratio"}
    size = config_kwargs["image_size"]
    config_kwargs["image_size"] = list(size) if isinstance(size, (list, tuple)) else [size, size]
    crop = _arg(args, "crop")
    if crop is not None:
        config_kwargs["crop_size"] = list(crop) if isinstance(crop, (list, tuple)) else [crop, crop]
    criterion = _arg(args, "criterion")
    if criterion is not None:
        loss_type, loss_kwargs = parse_criterion(criterion)
        config_kwargs.update(loss_type=loss_type, **loss_kwargs)
    config_kwargs["tile_conf_mode"] = _arg(args, "tile_conf_mode") or DEFAULT_TILE_CONF_MODE[task]
    config_kwargs["dpt_hooks"] = default_dpt_hooks(config_kwargs["encoder_num_hidden_layers"],
                                                   config_kwargs["decoder_num_hidden_layers"])
    if state_dict is not None:
        config_kwargs.update(dpt_widths_from_state_dict(collapse_aliases(state_dict)))
    config_kwargs.update(overrides)
    try:
        config = CONFIGS[task](**config_kwargs)
    except ValueError as err:
        raise ConversionError(f"the checkpoint's arguments give an invalid configuration: {err}") from err
    out = state_dict.get("head.dpt.head.4.weight") if state_dict is not None else None
    if out is not None and out.shape[0] != config.num_output_channels:
        raise ConversionError(f"the DPT head predicts {out.shape[0]} channels but a {task} model trained with "
                              f"{_arg(args, 'criterion')!r} has {config.num_output_channels} "
                              f"({config.task_channels} + confidence: {config.with_confidence})")
    return config


def _model_class(task: str):
    from .modeling_croco_stereo_flow import CroCoForOpticalFlow, CroCoForStereoMatching

    return {"stereo": CroCoForStereoMatching, "flow": CroCoForOpticalFlow}[task]


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], config) -> dict[str, torch.Tensor]:
    """Collapse the DPT aliases, rename upstream keys, and check every key and shape against the model built on the
    meta device."""
    converted = rename_state_dict(collapse_aliases(state_dict), RENAME_RULES)
    with torch.device("meta"):
        reference = _model_class(config.task)(config)
    check_state_dict(expected_shapes(reference), converted)
    return converted


def load_original(path: str | os.PathLike, task: str | None = None, **overrides):
    """Read an official checkpoint and return the loaded model (float32, eval mode). ``task`` ('stereo' / 'flow')
    makes a checkpoint of the other task an error; ``overrides`` change config fields (e.g. ``dpt_hooks``)."""
    ckpt = safe_load_checkpoint(path)
    state_dict, args, found = _identify(ckpt, str(path), task)
    config = config_from_upstream_args(args, found, state_dict, **overrides)
    converted = convert_state_dict(state_dict, config)
    model = _model_class(found)(config)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def model_card(model, model_id: str | None, source: str | None) -> str:
    """Model card of a converted CroCo-Stereo / CroCo-Flow checkpoint: the full release card for the 12 released
    files, a card built from the configuration otherwise (one text source: ``cards_croco_stereo_flow``)."""
    from .cards_croco_stereo_flow import converted_card

    return converted_card(model, model_id, source)


def _convert(path, out_dir, task, model_id, overwrite) -> Path:
    from nlv_hf.hub import export_model

    from .image_processing_croco import CroCoImageProcessor

    model = load_original(path, task=task)
    # any image size: the pipeline tiles the full-resolution images, so the processor only validates and normalises
    processor = CroCoImageProcessor(do_resize=False, do_center_crop=False, patch_size=1)
    card = model_card(model, model_id, Path(path).name)
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        export_model(model, tmp, processor=processor, model_id=model_id, source=Path(path).name, model_card=card)
    return Path(out_dir)


def _no_image_size(image_size):
    if image_size is not None:
        raise ConversionError("--image-size does not apply to CroCo-Stereo/Flow (RoPE models run at any size; "
                              "tiled inference uses the training crop stored in the checkpoint)")


def convert_croco_stereo_checkpoint(path, out_dir, image_size=None, model_id=None, overwrite=False) -> Path:
    """``nlv-hf convert croco-stereo``: a CroCo-Stereo checkpoint to a Hub-ready folder."""
    _no_image_size(image_size)
    return _convert(path, out_dir, "stereo", model_id, overwrite)


def convert_croco_flow_checkpoint(path, out_dir, image_size=None, model_id=None, overwrite=False) -> Path:
    """``nlv-hf convert croco-flow``: a CroCo-Flow checkpoint to a Hub-ready folder."""
    _no_image_size(image_size)
    return _convert(path, out_dir, "flow", model_id, overwrite)


def load_original_cached(cls, path_or_url: str, cache_dir: str | None = None, **kwargs):
    """``from_original``: convert once into the nlv_hf cache, then load from it."""
    task = getattr(cls.config_class, "task", "") or None
    return _load_original_cached(cls, path_or_url, "croco_stereo_flow",
                                 lambda path, folder: _convert(path, folder, task, None, True),
                                 cache_dir=cache_dir, **kwargs)


__all__ = ["RENAME_RULES", "collapse_aliases", "config_from_upstream_args", "convert_croco_flow_checkpoint",
           "convert_croco_stereo_checkpoint", "convert_state_dict", "load_original", "parse_criterion"]
