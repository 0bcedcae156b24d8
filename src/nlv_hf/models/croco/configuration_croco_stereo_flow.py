"""Configuration of CroCo-Stereo and CroCo-Flow (CroCo v2 backbone + DPT head, naver/croco ``stereoflow/``)."""

from __future__ import annotations

import math
import re

from .configuration_croco import CroCoConfig, _pair

LOSS_TYPES = ("laplacian", "laplacian_bounded", "laplacian_bounded2", "l1")
_CONF_MODE_RE = re.compile(r"^conf_expsigmoid_(\d+(?:\.\d+)?)_(\d+(?:\.\d+)?)$|^conf_expbeta(\d+(?:\.\d+)?)$")

# upstream stereoflow/criterion.py defaults of each loss: (a, b, max_gtnorm)
LOSS_DEFAULTS = {
    "laplacian": (None, None, None),
    "laplacian_bounded": (0.25, 4.0, 10000.0),
    "laplacian_bounded2": (3.0, 3.0, None),
    "l1": (None, None, None),
}


def default_dpt_hooks(encoder_layers: int, decoder_layers: int) -> list[int]:
    """Upstream ``PixelwiseTaskWithDPT`` rule: the last encoder block and three equally spaced decoder blocks ending
    with the last one, indexing the list [encoder blocks..., decoder blocks...]. Upstream has a step table
    ``{8: 3, 12: 4, 24: 8}``; ``ceil(decoder_layers / 3)`` gives the same steps and extends it to any depth."""
    step = math.ceil(decoder_layers / 3)
    last = encoder_layers + decoder_layers - 1
    return [last - i * step for i in range(3, -1, -1)]


def parse_tile_conf_mode(mode: str) -> tuple[str, float, float | None]:
    """``"conf_expsigmoid_<beta>_<beta_sigmoid>"`` → ("expsigmoid", beta, beta_sigmoid);
    ``"conf_expbeta<beta>"`` → ("expbeta", beta, None)."""
    match = _CONF_MODE_RE.match(str(mode))
    if match is None:
        raise ValueError(f"tile_conf_mode must be 'conf_expsigmoid_<beta>_<beta_sigmoid>' (e.g. 'conf_expsigmoid_15_3')"
                         f" or 'conf_expbeta<beta>' (e.g. 'conf_expbeta3'), got {mode!r}")
    if match.group(3) is not None:
        return "expbeta", float(match.group(3)), None
    return "expsigmoid", float(match.group(1)), float(match.group(2))


class CroCoStereoFlowConfig(CroCoConfig):
    r"""Shared configuration of the CroCo downstream models for dense binocular tasks (stereo matching, optical
    flow). Holds every :class:`CroCoConfig` field (the backbone; ``pos_embed`` is ``"RoPE100"`` for every released
    model) plus:

    Args:
        image_size: the size the backbone was built for (upstream ``croco_args['img_size']``, the training crop).
        dpt_hooks (`list[int]`, *optional*): indices into [encoder block outputs..., decoder block outputs...] of the
            four token maps fed to the DPT head (the last encoder and last decoder outputs are the normalised ones).
            Defaults to upstream's rule (:func:`default_dpt_hooks`): ViT-L/Base → [23, 27, 31, 35].
        dpt_layer_dims (`list[int]`, defaults to [96, 192, 384, 768]), dpt_feature_dim (256), dpt_last_dim (32):
            widths of the DPT head.
        loss_type (`str`): confidence-aware loss trained with (upstream ``args.criterion``): ``"laplacian_bounded2"``
            (CroCo-Stereo), ``"laplacian_bounded"`` (CroCo-Flow), ``"laplacian"`` (CroCo-Stereo ETH3D) or ``"l1"``
            (no confidence channel).
        loss_a, loss_b, loss_max_gtnorm: parameters of that loss (``None`` = upstream default of the loss).
        tile_conf_mode (`str`): how tiles are weighted when blending (upstream ``args.tile_conf_mode``).
        tile_overlap (`float`, defaults to 0.7): tile overlap of tiled inference (upstream ``test.py`` default).
        crop_size (`(height, width)`, defaults to ``image_size``): the training crop (upstream ``args.crop``), which
            is the tile size of tiled inference.
    """

    task: str = ""
    task_channels: int = 0

    def __init__(
        self,
        image_size=(352, 704),
        patch_size=16,
        pos_embed="RoPE100",
        encoder_hidden_size=1024,
        encoder_num_hidden_layers=24,
        encoder_num_attention_heads=16,
        decoder_hidden_size=768,
        decoder_num_hidden_layers=12,
        decoder_num_attention_heads=12,
        dpt_hooks=None,
        dpt_layer_dims=(96, 192, 384, 768),
        dpt_feature_dim=256,
        dpt_last_dim=32,
        loss_type="laplacian_bounded2",
        loss_a=None,
        loss_b=None,
        loss_max_gtnorm=None,
        tile_conf_mode="conf_expsigmoid_15_3",
        tile_overlap=0.7,
        crop_size=None,
        **kwargs,
    ):
        self.crop_size = list(_pair(crop_size if crop_size is not None else image_size, "crop_size"))
        self.dpt_hooks = None if dpt_hooks is None else [int(h) for h in dpt_hooks]
        self.dpt_layer_dims = list(dpt_layer_dims)
        self.dpt_feature_dim = dpt_feature_dim
        self.dpt_last_dim = dpt_last_dim
        self.loss_type = loss_type
        if loss_type in LOSS_DEFAULTS:
            da, db, dm = LOSS_DEFAULTS[loss_type]
            loss_a = da if loss_a is None else loss_a
            loss_b = db if loss_b is None else loss_b
            loss_max_gtnorm = dm if loss_max_gtnorm is None else loss_max_gtnorm
        self.loss_a = loss_a
        self.loss_b = loss_b
        self.loss_max_gtnorm = loss_max_gtnorm
        self.tile_conf_mode = tile_conf_mode
        self.tile_overlap = tile_overlap
        kwargs.setdefault("mask_ratio", 0.0)  # downstream models never mask
        super().__init__(
            image_size=image_size, patch_size=patch_size, pos_embed=pos_embed,
            encoder_hidden_size=encoder_hidden_size, encoder_num_hidden_layers=encoder_num_hidden_layers,
            encoder_num_attention_heads=encoder_num_attention_heads, decoder_hidden_size=decoder_hidden_size,
            decoder_num_hidden_layers=decoder_num_hidden_layers,
            decoder_num_attention_heads=decoder_num_attention_heads, **kwargs,
        )
        if self.dpt_hooks is None:
            self.dpt_hooks = default_dpt_hooks(self.encoder_num_hidden_layers, self.decoder_num_hidden_layers)
        self.validate_stereo_flow()

    def validate_stereo_flow(self):
        if self.patch_size != 16:
            raise ValueError(f"CroCo-Stereo/Flow need patch_size 16 (the DPT head's strides assume it), "
                             f"got {self.patch_size}")
        for name in ("image_size", "crop_size"):
            h, w = _pair(getattr(self, name), name)
            if h <= 0 or w <= 0 or h % 32 or w % 32:
                raise ValueError(f"{name} {(h, w)} must be positive multiples of 32 (the DPT head needs an even "
                                 "patch grid)")
        total = self.encoder_num_hidden_layers + self.decoder_num_hidden_layers
        if len(self.dpt_hooks) != 4 or any(not 0 <= hook < total for hook in self.dpt_hooks):
            raise ValueError(f"dpt_hooks must be 4 block indices in [0, {total}) (encoder then decoder blocks), "
                             f"got {self.dpt_hooks}")
        if len(self.dpt_layer_dims) != 4 or any(not isinstance(d, int) or d <= 0 for d in self.dpt_layer_dims):
            raise ValueError(f"dpt_layer_dims must be 4 positive integers, got {self.dpt_layer_dims}")
        for name in ("dpt_feature_dim", "dpt_last_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0 or (name == "dpt_feature_dim" and value % 2):
                raise ValueError(f"{name} must be a positive (and for dpt_feature_dim even) integer, got {value!r}")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {self.loss_type!r}")
        if self.loss_type in ("laplacian_bounded", "laplacian_bounded2"):
            if not (isinstance(self.loss_a, (int, float)) and isinstance(self.loss_b, (int, float))
                    and self.loss_a > 0 and self.loss_b > 0):
                raise ValueError(f"loss_a and loss_b must be > 0 for {self.loss_type}, got {self.loss_a}, "
                                 f"{self.loss_b}")
            if self.loss_type == "laplacian_bounded" and self.loss_b <= self.loss_a:
                raise ValueError(f"laplacian_bounded needs loss_b > loss_a, got a={self.loss_a}, b={self.loss_b}")
        parse_tile_conf_mode(self.tile_conf_mode)
        if not (isinstance(self.tile_overlap, (int, float)) and 0.0 <= self.tile_overlap < 1.0):
            raise ValueError(f"tile_overlap must be in [0, 1), got {self.tile_overlap!r}")

    @property
    def with_confidence(self) -> bool:
        """Whether the head predicts a confidence channel (every loss except ``"l1"``)."""
        return self.loss_type != "l1"

    @property
    def num_output_channels(self) -> int:
        return self.task_channels + int(self.with_confidence)

    @property
    def dpt_input_dims(self) -> list[int]:
        enc = self.encoder_num_hidden_layers
        return [self.encoder_hidden_size if hook < enc else self.decoder_hidden_size for hook in self.dpt_hooks]


class CroCoStereoConfig(CroCoStereoFlowConfig):
    """CroCo-Stereo: predicts the disparity of the left image (1 channel) and a confidence channel. Defaults are the
    released ``crocostereo.pth`` (ViT-L encoder, Base decoder, crop 352×704, ``LaplacianLossBounded2``)."""

    model_type = "croco_stereo"
    task = "stereo"
    task_channels = 1

    def __init__(self, image_size=(352, 704), loss_type="laplacian_bounded2", tile_conf_mode="conf_expsigmoid_15_3",
                 **kwargs):
        super().__init__(image_size=image_size, loss_type=loss_type, tile_conf_mode=tile_conf_mode, **kwargs)


class CroCoFlowConfig(CroCoStereoFlowConfig):
    """CroCo-Flow: predicts the optical flow (u, v) from image 1 to image 2 and a confidence channel. Defaults are the
    released ``crocoflow.pth`` (ViT-L encoder, Base decoder, crop 320×384, ``LaplacianLossBounded``)."""

    model_type = "croco_flow"
    task = "flow"
    task_channels = 2

    def __init__(self, image_size=(320, 384), loss_type="laplacian_bounded", tile_conf_mode="conf_expsigmoid_10_5",
                 **kwargs):
        super().__init__(image_size=image_size, loss_type=loss_type, tile_conf_mode=tile_conf_mode, **kwargs)


__all__ = ["CroCoFlowConfig", "CroCoStereoConfig", "CroCoStereoFlowConfig", "default_dpt_hooks",
           "parse_tile_conf_mode"]
