"""Convert official CroCo / CroCo v2 pretraining checkpoints (naver/croco) to nlv_hf.

    nlv-hf convert croco CroCo_V2_ViTLarge_BaseDecoder.pth ./croco-v2-vitl-base

Accepted files: the released ``CroCo.pth`` (``{'model': state_dict}``, CroCoNet defaults), the v2 files
(``{'model', 'croco_kwargs'}``) and checkpoints written by upstream ``pretrain.py`` (``{'model', 'args', ...}`` with the
model string in ``args.model``). Loading is safe (``weights_only=True`` + ``argparse.Namespace`` only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from nlv_hf.conversion import (
    ConversionError,
    atomic_output_dir,
    check_state_dict,
    expected_shapes,
    load_original_cached as _load_original_cached,
    parse_constructor_call,
    rename_state_dict,
    safe_load_checkpoint,
)
from nlv_hf.layers.pos_embed import interpolate_pos_embed

from .configuration_croco import CroCoConfig

# upstream CroCoNet constructor argument -> CroCoConfig field
KWARG_NAMES = {
    "img_size": "image_size",
    "patch_size": "patch_size",
    "mask_ratio": "mask_ratio",
    "enc_embed_dim": "encoder_hidden_size",
    "enc_depth": "encoder_num_hidden_layers",
    "enc_num_heads": "encoder_num_attention_heads",
    "dec_embed_dim": "decoder_hidden_size",
    "dec_depth": "decoder_num_hidden_layers",
    "dec_num_heads": "decoder_num_attention_heads",
    "mlp_ratio": "mlp_ratio",
    "norm_im2_in_dec": "norm_second_image_in_decoder",
    "pos_embed": "pos_embed",
}
IGNORED_KWARGS = {"norm_layer"}  # always LayerNorm(eps=1e-6) in released models

# The one key-renaming table: upstream CroCoNet state-dict key -> CroCoForPretraining key.
RENAME_RULES = [
    (r"^patch_embed\.proj\.", r"croco.encoder.patch_embed.proj."),
    (r"^enc_pos_embed$", r"croco.encoder.pos_embed"),
    (r"^enc_blocks\.(\d+)\.", r"croco.encoder.layers.\1."),
    (r"^enc_norm\.", r"croco.encoder.norm."),
    (r"^mask_token$", r"croco.mask_token"),
    (r"^decoder_embed\.", r"croco.decoder.embed."),
    (r"^dec_pos_embed$", r"croco.decoder.pos_embed"),
    (r"^dec_blocks\.(\d+)\.", r"croco.decoder.layers.\1."),
    (r"^dec_norm\.", r"croco.decoder.norm."),
    (r"^prediction_head\.", r"prediction_head."),
]

# CroCoNet() defaults, used for CroCo.pth which stores no kwargs
UPSTREAM_DEFAULTS = dict(img_size=224, patch_size=16, mask_ratio=0.9, enc_embed_dim=768, enc_depth=12,
                         enc_num_heads=12, dec_embed_dim=512, dec_depth=8, dec_num_heads=16, mlp_ratio=4,
                         norm_im2_in_dec=True, pos_embed="cosine")


def _identify(ckpt: Mapping, source: str) -> tuple[dict, dict | None]:
    """Return (upstream state dict, upstream constructor kwargs or None) or explain what the file is instead."""
    if "model_state_dict" in ckpt:
        raise ConversionError(f"{source} looks like a Multi-HMR checkpoint ('model_state_dict'); use "
                              "`nlv-hf convert multi-hmr` for it. This converter takes CroCo pretraining checkpoints.")
    if "model" not in ckpt or not isinstance(ckpt["model"], Mapping):
        raise ConversionError(f"{source} has no 'model' state dict (keys: {sorted(ckpt)[:10]}); expected a CroCo "
                              "checkpoint such as CroCo.pth or CroCo_V2_*.pth")
    state_dict = dict(ckpt["model"])
    if any(k.startswith("head.") for k in state_dict) or "mask_token" not in state_dict:
        args = ckpt.get("args")
        task = getattr(args, "task", None)
        raise ConversionError(f"{source} is a CroCo downstream checkpoint (task={task!r}: no mask token / has a "
                              "'head.'); use `nlv-hf convert croco-stereo` or `croco-flow` for CroCo-Stereo/Flow.")
    if "croco_kwargs" in ckpt:
        return state_dict, dict(ckpt["croco_kwargs"])
    args = ckpt.get("args")
    if args is not None and isinstance(getattr(args, "model", None), str):
        return state_dict, parse_constructor_call(args.model, "CroCoNet")
    return state_dict, None


def config_from_upstream_kwargs(kwargs: Mapping | None, state_dict: Mapping | None = None, **overrides) -> CroCoConfig:
    """Build a CroCoConfig from upstream CroCoNet kwargs (defaults filled in as upstream does).

    When the file stores no kwargs (``CroCo.pth``) the upstream defaults apply, with the position-embedding type
    read from the tensors (``enc_pos_embed`` present -> cosine)."""
    merged = dict(UPSTREAM_DEFAULTS)
    if kwargs is None and state_dict is not None and "enc_pos_embed" not in state_dict:
        merged["pos_embed"] = "RoPE100"
    unknown = set(kwargs or {}) - set(KWARG_NAMES) - IGNORED_KWARGS
    if unknown:
        raise ConversionError(f"unknown CroCoNet arguments in the checkpoint: {sorted(unknown)}; "
                              f"known: {sorted(KWARG_NAMES)}")
    merged.update({k: v for k, v in (kwargs or {}).items() if k not in IGNORED_KWARGS})
    config_kwargs = {KWARG_NAMES[k]: v for k, v in merged.items()}
    if isinstance(config_kwargs["image_size"], (tuple, list)):
        config_kwargs["image_size"] = list(config_kwargs["image_size"])
    config_kwargs.update(overrides)
    return CroCoConfig(**config_kwargs)


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], config: CroCoConfig,
                       source_grid: tuple[int, int] | None = None) -> dict[str, torch.Tensor]:
    """Rename upstream keys, resize cosine tables to ``config.image_size`` (upstream ``interpolate_pos_embed``) and
    check every key and shape against a CroCoForPretraining built on the meta device."""
    from .modeling_croco import CroCoForPretraining

    converted = rename_state_dict(state_dict, RENAME_RULES)
    for key in ("croco.encoder.pos_embed", "croco.decoder.pos_embed"):
        if key in converted:
            table = converted[key]
            grid = source_grid
            if grid is None:
                side = int(round(table.shape[0] ** 0.5))
                if side * side != table.shape[0]:
                    raise ConversionError(f"{key} has {table.shape[0]} positions, not a square grid")
                grid = (side, side)
            converted[key] = interpolate_pos_embed(table, grid, config.grid_size)
    with torch.device("meta"):
        reference = CroCoForPretraining(config)
    check_state_dict(expected_shapes(reference), converted)
    return converted


def load_original(path: str | os.PathLike, image_size=None):
    """Read an official checkpoint and return a loaded ``CroCoForPretraining`` (float32, eval mode)."""
    from .modeling_croco import CroCoForPretraining

    ckpt = safe_load_checkpoint(path)
    state_dict, kwargs = _identify(ckpt, str(path))
    source_config = config_from_upstream_kwargs(kwargs, state_dict)
    overrides = {"image_size": image_size} if image_size is not None else {}
    config = config_from_upstream_kwargs(kwargs, state_dict, **overrides)
    converted = convert_state_dict(state_dict, config, source_grid=source_config.grid_size)
    model = CroCoForPretraining(config)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def convert_croco_checkpoint(path: str | os.PathLike, out_dir: str | os.PathLike, image_size=None,
                             model_id: str | None = None, overwrite: bool = False) -> Path:
    """Convert ``path`` and write a Hub-ready folder (weights, config, processor, model card, remote code)."""
    from nlv_hf.hub import export_model

    from .image_processing_croco import CroCoImageProcessor

    model = load_original(path, image_size=image_size)
    processor = CroCoImageProcessor(
        patch_size=model.config.patch_size,
        size={"shortest_edge": model.config.image_size[0]},
        crop_size={"height": model.config.image_size[0], "width": model.config.image_size[1]},
    )
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        export_model(model, tmp, processor=processor, model_id=model_id, source=Path(path).name)
    return Path(out_dir)





def load_original_cached(cls, path_or_url: str, cache_dir: str | None = None, **kwargs):
    """``from_original``: convert once into the nlv_hf cache, then load from it."""
    return _load_original_cached(cls, path_or_url, "croco",
                                 lambda path, folder: convert_croco_checkpoint(path, folder, overwrite=True),
                                 cache_dir=cache_dir, **kwargs)