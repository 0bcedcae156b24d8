"""Building blocks shared by several models; each is defined once here."""

from .attention import Attention, CrossAttention, eager_attention_forward
from .blocks import DecoderBlock, EncoderBlock
from .dpt import DPTHead
from .mlp import Mlp
from .patch_embed import PatchEmbed, grid_positions, patchify, unpatchify
from .pos_embed import get_2d_sincos_pos_embed, interpolate_pos_embed
from .rope import RotaryEmbedding2D, apply_rotary_pos_emb_2d, rotate_half_2d

__all__ = [
    "Attention", "CrossAttention", "DPTHead", "DecoderBlock", "EncoderBlock", "Mlp", "PatchEmbed", "RotaryEmbedding2D",
    "apply_rotary_pos_emb_2d", "eager_attention_forward", "get_2d_sincos_pos_embed", "grid_positions",
    "interpolate_pos_embed", "patchify", "rotate_half_2d", "unpatchify",
]
