"""Self- and cross-attention that dispatch through the transformers attention interface.

``config._attn_implementation`` selects the kernel (``"sdpa"`` by default, ``"eager"``, or any function registered
with ``transformers.AttentionInterface``), exactly as in transformers' own models. Rotary position embeddings, when
given, are applied to queries and keys after the head split and before the kernel call.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .rope import apply_rotary_pos_emb_2d


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference matmul-softmax attention. ``query/key/value`` are B×heads×N×D; returns (B×N×heads×D, weights)."""
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = nn.functional.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    out = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return out, weights


def _attention_interface(config):
    return ALL_ATTENTION_FUNCTIONS.get_interface(config._attn_implementation, eager_attention_forward)


class _MultiHeadAttentionBase(nn.Module):
    """Shared head bookkeeping and the dispatch to the configured attention kernel."""

    def __init__(self, config, dim: int, num_heads: int, attention_dropout: float = 0.0):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"dim ({dim}) must be divisible by num_heads ({num_heads})")
        self.config = config
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scaling = self.head_dim**-0.5
        self.attention_dropout = attention_dropout
        self.is_causal = False

    def _attend(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """B×heads×N×D inputs -> B×N×(heads·D) output of the kernel selected by ``config._attn_implementation``."""
        out, _ = _attention_interface(self.config)(
            self, query, key, value, None, dropout=self.attention_dropout if self.training else 0.0,
            scaling=self.scaling,
        )
        return out.reshape(out.shape[0], out.shape[1], -1)


class Attention(_MultiHeadAttentionBase):
    """Multi-head self-attention with a fused ``qkv`` projection (rows ordered [q; k; v])."""

    def __init__(self, config, dim: int, num_heads: int, qkv_bias: bool = True, attention_dropout: float = 0.0):
        super().__init__(config, dim, num_heads, attention_dropout)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, hidden_states: torch.Tensor, position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        batch, seq, _ = hidden_states.shape
        qkv = self.qkv(hidden_states).view(batch, seq, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)
        if position_embeddings is not None:
            query = apply_rotary_pos_emb_2d(query, *position_embeddings)
            key = apply_rotary_pos_emb_2d(key, *position_embeddings)
        return self.proj(self._attend(query, key, value))


class CrossAttention(_MultiHeadAttentionBase):
    """Multi-head cross-attention with separate ``projq``/``projk``/``projv`` projections."""

    def __init__(self, config, dim: int, num_heads: int, qkv_bias: bool = True, attention_dropout: float = 0.0):
        super().__init__(config, dim, num_heads, attention_dropout)
        self.projq = nn.Linear(dim, dim, bias=qkv_bias)
        self.projk = nn.Linear(dim, dim, bias=qkv_bias)
        self.projv = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        query_position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        key_position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        q = self._heads(self.projq(query))
        k = self._heads(self.projk(key))
        v = self._heads(self.projv(value))
        if query_position_embeddings is not None:
            q = apply_rotary_pos_emb_2d(q, *query_position_embeddings)
        if key_position_embeddings is not None:
            k = apply_rotary_pos_emb_2d(k, *key_position_embeddings)
        return self.proj(self._attend(q, k, v))
