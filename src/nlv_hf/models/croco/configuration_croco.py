"""Configuration of CroCo (v1, cosine position embeddings) and CroCo v2 (2D RoPE)."""

from __future__ import annotations

import re

from transformers import PreTrainedConfig

_POS_EMBED_RE = re.compile(r"^RoPE(\d+(?:\.\d+)?)$")


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{name} must be an int or a pair of ints (height, width), got {value!r}")


class CroCoConfig(PreTrainedConfig):
    r"""Configuration of a CroCo cross-view completion model.

    Args:
        image_size (`int` or `(height, width)`, defaults to 224): the size the model was trained at. With
            ``pos_embed="cosine"`` the stored position tables have this grid and are bicubically resized for other
            sizes; with RoPE any size that is a multiple of ``patch_size`` works without resizing.
        patch_size (`int`, defaults to 16): patch size of the encoder.
        num_channels (`int`, defaults to 3): input channels.
        mask_ratio (`float`, defaults to 0.9): fraction of the first image's patches that are hidden in pretraining
            (``int(mask_ratio * num_patches)`` per image); must be in [0, 1).
        encoder_hidden_size / encoder_num_hidden_layers / encoder_num_attention_heads: ViT encoder (768/12/12 = ViT-B).
        decoder_hidden_size / decoder_num_hidden_layers / decoder_num_attention_heads: decoder (512/8/16 = "Small").
        mlp_ratio (`float`, defaults to 4.0): MLP hidden size as a multiple of the block width.
        qkv_bias (`bool`, defaults to True): bias of the q/k/v projections.
        layer_norm_eps (`float`, defaults to 1e-6): epsilon of every LayerNorm.
        norm_second_image_in_decoder (`bool`, defaults to True): upstream ``norm_im2_in_dec``; each decoder block
            normalises the second image's tokens with its own LayerNorm before cross-attending.
        pos_embed (`str`, defaults to "cosine"): ``"cosine"`` (fixed 2D sin-cos tables, CroCo v1) or
            ``"RoPE<freq>"`` such as ``"RoPE100"`` (2D rotary embeddings with base ``freq``, CroCo v2).
        norm_pix_loss (`bool`, defaults to True): normalise each target patch by its mean and *unbiased* variance,
            as upstream ``MaskedMSE(norm_pix_loss=True)`` (``pretrain.py`` default).
        hidden_act (`str`, defaults to "gelu"): MLP activation (exact GELU upstream).
        attention_dropout (`float`, defaults to 0.0).
        initializer_range (`float`, defaults to 0.02): std of the mask token initialisation.
    """

    model_type = "croco"

    def __init__(
        self,
        image_size=224,
        patch_size=16,
        num_channels=3,
        mask_ratio=0.9,
        encoder_hidden_size=768,
        encoder_num_hidden_layers=12,
        encoder_num_attention_heads=12,
        decoder_hidden_size=512,
        decoder_num_hidden_layers=8,
        decoder_num_attention_heads=16,
        mlp_ratio=4.0,
        qkv_bias=True,
        layer_norm_eps=1e-6,
        norm_second_image_in_decoder=True,
        pos_embed="cosine",
        norm_pix_loss=True,
        hidden_act="gelu",
        attention_dropout=0.0,
        initializer_range=0.02,
        **kwargs,
    ):
        self.image_size = list(_pair(image_size, "image_size"))
        self.patch_size = patch_size
        self.num_channels = num_channels
        self.mask_ratio = mask_ratio
        self.encoder_hidden_size = encoder_hidden_size
        self.encoder_num_hidden_layers = encoder_num_hidden_layers
        self.encoder_num_attention_heads = encoder_num_attention_heads
        self.decoder_hidden_size = decoder_hidden_size
        self.decoder_num_hidden_layers = decoder_num_hidden_layers
        self.decoder_num_attention_heads = decoder_num_attention_heads
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.layer_norm_eps = layer_norm_eps
        self.norm_second_image_in_decoder = norm_second_image_in_decoder
        self.pos_embed = pos_embed
        self.norm_pix_loss = norm_pix_loss
        self.hidden_act = hidden_act
        self.attention_dropout = attention_dropout
        self.initializer_range = initializer_range
        super().__init__(**kwargs)
        self.validate_croco()

    # ------------------------------------------------------------------ validation
    def validate_croco(self):
        def positive_int(name):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

        for name in ("patch_size", "num_channels", "encoder_hidden_size", "encoder_num_hidden_layers",
                     "encoder_num_attention_heads", "decoder_hidden_size", "decoder_num_hidden_layers",
                     "decoder_num_attention_heads"):
            positive_int(name)
        h, w = self.image_size
        if h <= 0 or w <= 0 or h % self.patch_size or w % self.patch_size:
            raise ValueError(
                f"image_size {tuple(self.image_size)} must be positive multiples of patch_size {self.patch_size}"
            )
        if not (isinstance(self.mask_ratio, (int, float)) and 0.0 <= self.mask_ratio < 1.0):
            raise ValueError(f"mask_ratio must be in [0, 1), got {self.mask_ratio!r}")
        if not (isinstance(self.mlp_ratio, (int, float)) and self.mlp_ratio > 0):
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio!r}")
        for prefix in ("encoder", "decoder"):
            dim = getattr(self, f"{prefix}_hidden_size")
            heads = getattr(self, f"{prefix}_num_attention_heads")
            if dim % heads:
                raise ValueError(f"{prefix}_hidden_size ({dim}) must be divisible by {prefix}_num_attention_heads ({heads})")
            if self.rope_base is not None and (dim // heads) % 4:
                raise ValueError(
                    f"RoPE needs the {prefix} head dimension ({dim}/{heads} = {dim // heads}) to be divisible by 4"
                )
            if self.rope_base is None and dim % 4:
                raise ValueError(f"cosine position embeddings need {prefix}_hidden_size divisible by 4, got {dim}")
        if not (isinstance(self.attention_dropout, (int, float)) and 0.0 <= self.attention_dropout < 1.0):
            raise ValueError(f"attention_dropout must be in [0, 1), got {self.attention_dropout!r}")

    # ------------------------------------------------------------------ derived values
    @property
    def rope_base(self) -> float | None:
        """RoPE frequency base for ``"RoPE<freq>"``, ``None`` for ``"cosine"``."""
        if self.pos_embed == "cosine":
            return None
        match = _POS_EMBED_RE.match(str(self.pos_embed))
        if match is None:
            raise ValueError(f"pos_embed must be 'cosine' or 'RoPE<freq>' (e.g. 'RoPE100'), got {self.pos_embed!r}")
        return float(match.group(1))

    @property
    def grid_size(self) -> tuple[int, int]:
        return (self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size)

    @property
    def num_patches(self) -> int:
        h, w = self.grid_size
        return h * w

    @property
    def num_masked_patches(self) -> int:
        return int(self.mask_ratio * self.num_patches)
