"""Convert official Multi-HMR checkpoints (naver/multi-hmr) to nlv_hf.

    nlv-hf convert multi-hmr multiHMR_896_L.pt ./multi-hmr-896-l

Accepted files: the six SMPL-X releases (``multiHMR_{896_L, 672_L, 672_B, 672_S, 1288_L_bedlam, 1288_L_agora}.pt``)
and ``multiHMR_672_L_anny.pt``: a ``torch.save`` dict with ``args`` (an ``argparse.Namespace``) and
``model_state_dict`` (older uploads: ``state_dict_model``). Loading is safe (``weights_only=True`` +
``argparse.Namespace`` only). Body-model buffers stored in a checkpoint (``smpl_layer.*``, ``body_model.*``) are not
learned and are dropped; the body model is rebuilt from the user's SMPL-X file / the ``anny`` package.

The DINOv2 position table (37x37, built for 518 px) is resized once here to the checkpoint's patch grid with DINOv2's
own rule (bicubic, ``scale_factor = (grid + 0.1) / 37``), which differs from transformers' ``size=`` resize; the
converted model then never interpolates at run time.
"""

from __future__ import annotations

import math
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

from .configuration_multi_hmr import MultiHMRConfig

# Keys that hold no learned weights: dropped before renaming.
DROP_PATTERNS = [
    r"^smpl_layer\.",  # smplx buffers built from the licensed SMPL-X file
    r"^body_model\.",  # anny buffers
    r"^x_attention_head\.init_betas_kid$",  # unused upstream
    r"^eye$",  # constant identity (Anny)
]

_BACKBONE_RULES = [
    (r"cls_token$", r"backbone.embeddings.cls_token"),
    (r"mask_token$", r"backbone.embeddings.mask_token"),
    (r"pos_embed$", r"backbone.embeddings.position_embeddings"),
    (r"patch_embed\.proj\.", r"backbone.embeddings.patch_embeddings.projection."),
    (r"blocks\.(\d+)\.norm(\d)\.", r"backbone.encoder.layer.\1.norm\2."),
    (r"blocks\.(\d+)\.attn\.qkv\.", r"backbone.encoder.layer.\1.attention.qkv."),  # split afterwards
    (r"blocks\.(\d+)\.attn\.proj\.", r"backbone.encoder.layer.\1.attention.o_proj."),
    (r"blocks\.(\d+)\.ls(\d)\.gamma$", r"backbone.encoder.layer.\1.layer_scale\2.lambda1"),
    (r"blocks\.(\d+)\.mlp\.", r"backbone.encoder.layer.\1.mlp."),
    (r"norm\.", r"backbone.layernorm."),
]
_DECODER_RULES = [
    (r"layers\.(\d+)\.0\.norm\.", r"head.decoder.layers.\1.self_attn_norm."),
    (r"layers\.(\d+)\.0\.fn\.to_qkv\.", r"head.decoder.layers.\1.self_attn.to_qkv."),
    (r"layers\.(\d+)\.0\.fn\.to_out\.0\.", r"head.decoder.layers.\1.self_attn.to_out."),
    (r"layers\.(\d+)\.1\.norm\.", r"head.decoder.layers.\1.cross_attn_norm."),
    (r"layers\.(\d+)\.1\.fn\.to_q\.", r"head.decoder.layers.\1.cross_attn.to_q."),
    (r"layers\.(\d+)\.1\.fn\.to_kv\.", r"head.decoder.layers.\1.cross_attn.to_kv."),
    (r"layers\.(\d+)\.1\.fn\.to_out\.0\.", r"head.decoder.layers.\1.cross_attn.to_out."),
    (r"layers\.(\d+)\.2\.norm\.", r"head.decoder.layers.\1.mlp_norm."),
    (r"layers\.(\d+)\.2\.fn\.net\.0\.", r"head.decoder.layers.\1.mlp.fc1."),
    (r"layers\.(\d+)\.2\.fn\.net\.3\.", r"head.decoder.layers.\1.mlp.fc2."),
]


def _prefixed(prefix: str, rules):
    return [(f"^{re.escape(prefix)}{pattern}", repl) for pattern, repl in rules]


# The key-renaming tables: upstream state-dict key -> MultiHMRModel key.
RENAME_RULES = {
    "smplx": _prefixed("backbone.encoder.", _BACKBONE_RULES) + [
        (r"^mlp_classif\.", r"head.mlp_classif."),
        (r"^mlp_offset\.", r"head.mlp_offset."),
        (r"^x_attention_head\.(cross_(?:queries|values)_[xy])$", r"head.\1"),
        (r"^x_attention_head\.(init_(?:body_pose|betas|cam|expression))$", r"head.\1"),
        (r"^x_attention_head\.transformer\.pos_embedding$", r"head.pos_embedding"),
        (r"^x_attention_head\.transformer\.to_token_embedding\.", r"head.token_embedding."),
        (r"^x_attention_head\.(dec(?:pose|shape|cam|expression))\.", r"head.\1."),
    ] + _prefixed("x_attention_head.transformer.transformer.", _DECODER_RULES),
    "anny": _prefixed("encoder.backbone.", _BACKBONE_RULES) + [
        (r"^encoder\.mlp_det\.", r"head.mlp_det."),
        (r"^encoder\.mlp_fov_unique\.", r"head.mlp_fov."),
        (r"^encoder\.fov_max$", r"head.fov_max"),
        (r"^dec_to_token\.", r"head.dec_to_token."),
        (r"^dec_pos_emb$", r"head.dec_pos_emb"),
        (r"^(mlp_(?:offset|pose|shape|dist))\.", r"head.\1."),
        (r"^(init_body_pose|useful_rotmat)$", r"head.\1"),
    ] + _prefixed("decoder.transformer.", _DECODER_RULES),
}

# DINOv2 hub models: heads per width (ViT-S/B/L/g; ViT-H width 1280 uses 16 heads).
HEADS_BY_WIDTH = {384: 6, 768: 12, 1024: 16, 1280: 16, 1536: 24}
HEADS_BY_NAME = {"dinov2_vits14": 6, "dinov2_vitb14": 12, "dinov2_vitl14": 16, "dinov2_vitg14": 24}


def detect_body_model(state_dict: Mapping) -> str:
    if any(k.startswith("encoder.backbone.") for k in state_dict):
        return "anny"
    if any(k.startswith("backbone.encoder.") for k in state_dict):
        return "smplx"
    raise ConversionError("the state dict holds neither 'backbone.encoder.*' (Multi-HMR SMPL-X) nor "
                          "'encoder.backbone.*' (Multi-HMR-Anny) keys; is this a Multi-HMR checkpoint?")


def _identify(ckpt: Mapping, source: str) -> tuple[dict, dict]:
    if "model" in ckpt and "model_state_dict" not in ckpt:
        raise ConversionError(f"{source} looks like a CroCo/DUSt3R-style checkpoint ('model'); this converter takes "
                              "Multi-HMR checkpoints ({'args', 'model_state_dict'}), e.g. multiHMR_896_L.pt")
    state_dict = ckpt.get("model_state_dict", ckpt.get("state_dict_model"))
    if not isinstance(state_dict, Mapping):
        raise ConversionError(f"{source} has no 'model_state_dict' (keys: {sorted(ckpt)[:10]}); expected an official "
                              "Multi-HMR checkpoint such as multiHMR_896_L.pt")
    args = ckpt.get("args")
    kwargs = dict(vars(args)) if args is not None and hasattr(args, "__dict__") else dict(args or {})
    return dict(state_dict), kwargs


def _count(state_dict: Mapping, pattern: str) -> int:
    regex = re.compile(pattern)
    return len({m.group(1) for k in state_dict if (m := regex.match(k))})


def config_from_upstream_kwargs(kwargs: Mapping | None, state_dict: Mapping, **overrides) -> MultiHMRConfig:
    """Build a MultiHMRConfig from the checkpoint's ``args`` and tensor shapes (shapes win where both exist)."""
    kwargs = dict(kwargs or {})
    body = detect_body_model(state_dict)
    prefix = "backbone.encoder." if body == "smplx" else "encoder.backbone."
    hidden = state_dict[prefix + "cls_token"].shape[-1]
    heads = HEADS_BY_NAME.get(str(kwargs.get("backbone")), HEADS_BY_WIDTH.get(hidden, max(hidden // 64, 1)))
    mlp_hidden = state_dict[prefix + "blocks.0.mlp.fc1.weight"].shape[0]
    if mlp_hidden % hidden:
        raise ConversionError(f"backbone MLP width {mlp_hidden} is not a multiple of its width {hidden}")
    config = dict(
        body_model=body, hidden_size=hidden, num_attention_heads=heads,
        num_hidden_layers=_count(state_dict, re.escape(prefix) + r"blocks\.(\d+)\."),
        patch_size=state_dict[prefix + "patch_embed.proj.weight"].shape[-1],
        mlp_ratio=mlp_hidden // hidden,
    )
    img_size = kwargs.get("img_size")
    if isinstance(img_size, (list, tuple)):
        img_size = img_size[0]
    if body == "smplx":
        grid = state_dict["x_attention_head.cross_queries_x"].shape[0]
        dec = "x_attention_head.transformer.transformer.layers."
        dim = state_dict["x_attention_head.transformer.to_token_embedding.weight"].shape[0]
        heads_dec = int(kwargs.get("xat_num_heads", 8))
        context_dim = state_dict["x_attention_head.cross_queries_x"].shape[1]
        config.update(
            decoder_hidden_size=dim, decoder_num_attention_heads=heads_dec,
            decoder_num_hidden_layers=_count(state_dict, re.escape(dec) + r"(\d+)\."),
            decoder_head_dim=state_dict[dec + "0.0.fn.to_qkv.weight"].shape[0] // (3 * heads_dec),
            decoder_intermediate_size=state_dict[dec + "0.2.fn.net.0.weight"].shape[0],
            num_betas=state_dict["x_attention_head.decshape.weight"].shape[0],
            num_expression_coeffs=state_dict["x_attention_head.decexpression.weight"].shape[0],
            camera_embedding_num_bands=(context_dim - hidden - 3) // 6,
            camera_embedding_max_resolution=int(kwargs.get("camera_embedding_max_resolution", 64)),
            person_center=kwargs.get("person_center", "head"),
        )
        if kwargs.get("camera_embedding", "geometric") != "geometric":
            raise ConversionError(f"camera_embedding={kwargs['camera_embedding']!r} is not supported (only "
                                  "'geometric', as in every released checkpoint)")
        if not kwargs.get("nearness", True):
            raise ConversionError("nearness=False checkpoints are not supported (released ones regress log-depth)")
    else:
        grid = int(round(math.sqrt(state_dict["dec_pos_emb"].shape[0])))
        dec = "decoder.transformer.layers."
        heads_dec = int(kwargs.get("xat_heads", 16))
        config.update(
            decoder_hidden_size=state_dict["dec_to_token.weight"].shape[0], decoder_num_attention_heads=heads_dec,
            decoder_num_hidden_layers=_count(state_dict, re.escape(dec) + r"(\d+)\."),
            decoder_head_dim=state_dict[dec + "0.0.fn.to_qkv.weight"].shape[0] // (3 * heads_dec),
            decoder_intermediate_size=state_dict[dec + "0.2.fn.net.0.weight"].shape[0],
            num_betas=state_dict["mlp_shape.2.weight"].shape[0], person_center=kwargs.get("person_center", "head"),
        )
    config["image_size"] = grid * config["patch_size"]
    if img_size is not None and int(img_size) != config["image_size"]:
        raise ConversionError(f"args.img_size={img_size} disagrees with the head's {grid}x{grid} patch grid")
    config.update(overrides)
    return MultiHMRConfig(**config)


def dinov2_resize_pos_embed(pos_embed: torch.Tensor, grid: int, offset: float = 0.1) -> torch.Tensor:
    """DINOv2's ``interpolate_pos_encoding`` (facebookresearch/dinov2 b8931f7) for a square ``grid``: the patch part
    of (1, 1 + M*M, C) is resized bicubically with ``scale_factor = (grid + offset) / M`` (no antialias)."""
    n = pos_embed.shape[1] - 1
    m = int(round(math.sqrt(n)))
    if m * m != n:
        raise ConversionError(f"position table of {n} patches is not a square grid")
    if m == grid:
        return pos_embed
    cls, patches = pos_embed[:, :1], pos_embed[:, 1:]
    scale = (grid + offset) / m
    patches = torch.nn.functional.interpolate(
        patches.float().reshape(1, m, m, -1).permute(0, 3, 1, 2), mode="bicubic", scale_factor=(scale, scale),
        antialias=False)
    if patches.shape[-2:] != (grid, grid):
        raise ConversionError(f"DINOv2 resize gave {tuple(patches.shape[-2:])}, expected {(grid, grid)}")
    patches = patches.permute(0, 2, 3, 1).reshape(1, grid * grid, -1).to(pos_embed.dtype)
    return torch.cat([cls, patches], dim=1)


def convert_state_dict(state_dict: Mapping[str, torch.Tensor], config: MultiHMRConfig,
                       prefix: str = "") -> dict[str, torch.Tensor]:
    """Drop non-learned keys, rename with :data:`RENAME_RULES`, split fused qkv, resize the position table, and check
    every key and shape against a model built on the meta device. ``prefix="multi_hmr."`` gives
    :class:`MultiHMRForMeshRecovery` keys."""
    from .modeling_multi_hmr import MultiHMRModel

    drop = [re.compile(p) for p in DROP_PATTERNS]
    kept = {k: v for k, v in state_dict.items() if not any(p.match(k) for p in drop)}
    converted = rename_state_dict(kept, RENAME_RULES[config.body_model])
    for key in [k for k in converted if ".attention.qkv." in k]:
        q, k_, v = converted.pop(key).chunk(3, dim=0)
        stem, kind = key.split(".attention.qkv.")
        converted[f"{stem}.attention.q_proj.{kind}"] = q
        converted[f"{stem}.attention.k_proj.{kind}"] = k_
        converted[f"{stem}.attention.v_proj.{kind}"] = v
    pos = "backbone.embeddings.position_embeddings"
    converted[pos] = dinov2_resize_pos_embed(converted[pos], config.grid_size)
    with torch.device("meta"):
        reference = MultiHMRModel(config)
    check_state_dict(expected_shapes(reference), converted)
    return {prefix + k: v for k, v in converted.items()}


def load_original(path: str | os.PathLike, smplx_path: str | None = None):
    """Read an official checkpoint and return a loaded ``MultiHMRForMeshRecovery`` (float32, eval mode)."""
    from .modeling_multi_hmr import MultiHMRForMeshRecovery

    ckpt = safe_load_checkpoint(path)
    state_dict, kwargs = _identify(ckpt, str(path))
    config = config_from_upstream_kwargs(kwargs, state_dict)
    converted = convert_state_dict(state_dict, config, prefix="multi_hmr.")
    model = MultiHMRForMeshRecovery(config, smplx_path=smplx_path)
    model.load_state_dict(converted, strict=True)
    return model.eval()


def convert_multi_hmr_checkpoint(path: str | os.PathLike, out_dir: str | os.PathLike, image_size=None,
                                 model_id: str | None = None, overwrite: bool = False) -> Path:
    """Convert ``path`` and write a Hub-ready folder (weights, config, processor, model card, remote code)."""
    from nlv_hf.hub import export_model

    from .image_processing_multi_hmr import MultiHMRImageProcessor

    model = load_original(path)
    if image_size is not None and image_size not in (model.config.image_size, [model.config.image_size] * 2):
        raise ConversionError(f"Multi-HMR checkpoints are tied to their resolution ({model.config.image_size}); "
                              f"--image-size {image_size} is not possible")
    processor = MultiHMRImageProcessor(image_size=model.config.image_size, default_fov=model.config.default_fov)
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        export_model(model, tmp, processor=processor, model_id=model_id, source=Path(path).name)
    return Path(out_dir)


def load_original_cached(cls, path_or_url: str, cache_dir: str | None = None, **kwargs):
    """``from_original``: convert once into the nlv_hf cache, then load from it."""
    return _load_original_cached(cls, path_or_url, "multi_hmr",
                                 lambda path, folder: convert_multi_hmr_checkpoint(path, folder, overwrite=True),
                                 cache_dir=cache_dir, **kwargs)