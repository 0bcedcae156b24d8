"""Pre-norm transformer blocks: a ViT encoder block and a cross-view decoder block."""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .attention import Attention, CrossAttention
from .mlp import Mlp


class EncoderBlock(GradientCheckpointingLayer):
    """``x += attn(norm1(x)); x += mlp(norm2(x))``."""

    def __init__(self, config, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 eps: float = 1e-6, act: str = "gelu", attention_dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(config, dim, num_heads, qkv_bias=qkv_bias, attention_dropout=attention_dropout)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act=act)

    def forward(self, hidden_states: torch.Tensor, position_embeddings=None) -> torch.Tensor:
        hidden_states = hidden_states + self.attn(self.norm1(hidden_states), position_embeddings)
        return hidden_states + self.mlp(self.norm2(hidden_states))


class DecoderBlock(GradientCheckpointingLayer):
    """Self-attention, cross-attention to a second token stream, MLP.

    The second stream (``context``) is only read: it is normalised by this block's ``norm_y`` (Identity when
    ``norm_context=False``) and is *not* updated, so every block attends to the same context tokens.
    """

    def __init__(self, config, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 eps: float = 1e-6, norm_context: bool = True, act: str = "gelu", attention_dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(config, dim, num_heads, qkv_bias=qkv_bias, attention_dropout=attention_dropout)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.cross_attn = CrossAttention(config, dim, num_heads, qkv_bias=qkv_bias, attention_dropout=attention_dropout)
        self.norm3 = nn.LayerNorm(dim, eps=eps)
        self.norm_y = nn.LayerNorm(dim, eps=eps) if norm_context else nn.Identity()
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act=act)

    def forward(self, hidden_states: torch.Tensor, context: torch.Tensor, position_embeddings=None,
                context_position_embeddings=None) -> torch.Tensor:
        hidden_states = hidden_states + self.attn(self.norm1(hidden_states), position_embeddings)
        context = self.norm_y(context)
        hidden_states = hidden_states + self.cross_attn(
            self.norm2(hidden_states), context, context, position_embeddings, context_position_embeddings
        )
        return hidden_states + self.mlp(self.norm3(hidden_states))
