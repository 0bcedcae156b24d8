"""CroCo (cross-view completion) models: encoder, decoder, pretraining head.

Behaviour follows naver/croco ``models/croco.py`` (read for behaviour; this is an independent implementation):
the first image is patch-embedded and (in pretraining) masked, the second image is encoded unmasked by the same
encoder, and a decoder reconstructs the first image's patches with self-attention over its tokens and
cross-attention to the second image's tokens. The second image's token stream is not updated by the decoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from nlv_hf.layers.blocks import DecoderBlock, EncoderBlock
from nlv_hf.layers.patch_embed import PatchEmbed, grid_positions, patchify, unpatchify
from nlv_hf.layers.pos_embed import get_2d_sincos_pos_embed, interpolate_pos_embed
from nlv_hf.layers.rope import RotaryEmbedding2D

from .configuration_croco import CroCoConfig


# ----------------------------------------------------------------------------------------------------------- outputs
@dataclass
class CroCoModelOutput(ModelOutput):
    """
    last_hidden_state: decoder output for every patch of the first image (B×N×decoder_hidden_size), normalised.
    encoder_last_hidden_state: encoder output of the visible patches of the first image (B×N_visible×C), raster order.
    encoder_last_hidden_state_2: encoder output of the second image (B×N×C).
    bool_masked_pos: B×N bool, True where a patch of the first image was hidden.
    positions / positions_2: B×N×2 int64 (row, col) patch coordinates of the two images (all patches).
    encoder_hidden_states / encoder_hidden_states_2 / decoder_hidden_states: with ``output_hidden_states``, the input
        of the first block then the output of every block (before the final LayerNorm).
    """

    last_hidden_state: torch.FloatTensor | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_last_hidden_state_2: torch.FloatTensor | None = None
    bool_masked_pos: torch.BoolTensor | None = None
    positions: torch.LongTensor | None = None
    positions_2: torch.LongTensor | None = None
    encoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    encoder_hidden_states_2: tuple[torch.FloatTensor, ...] | None = None
    decoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class CroCoForPretrainingOutput(ModelOutput):
    """
    loss: masked patch MSE (normalised-pixel targets when ``config.norm_pix_loss``).
    logits: predicted patches for every patch of the first image, B×N×(p·p·C), ordered (row, col, channel).
    bool_masked_pos: B×N bool, True where a patch was hidden (the loss is averaged over those).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    bool_masked_pos: torch.BoolTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None
    encoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    encoder_hidden_states_2: tuple[torch.FloatTensor, ...] | None = None
    decoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None


# ------------------------------------------------------------------------------------------------------------ losses
def masked_patch_mse_loss(
    pred: torch.Tensor, target: torch.Tensor, bool_masked_pos: torch.Tensor, norm_pix_loss: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Mean over hidden patches of the per-patch MSE between ``pred`` and patchified ``target`` (both B×N×D).

    With ``norm_pix_loss`` each target patch is standardised by its own mean and its **unbiased** variance
    (Bessel's correction, ``torch.var`` default), exactly as upstream ``MaskedMSE``. Computed in float32."""
    pred = pred.float()
    target = target.float()
    if norm_pix_loss:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)  # unbiased on purpose: upstream quirk that changes the loss value
        target = (target - mean) / (var + eps) ** 0.5
    per_patch = (pred - target).pow(2).mean(dim=-1)
    mask = bool_masked_pos.to(per_patch.dtype)
    return (per_patch * mask).sum() / mask.sum()


# ------------------------------------------------------------------------------------------------------- base class
class CroCoPreTrainedModel(PreTrainedModel):
    config: CroCoConfig
    config_class = CroCoConfig
    base_model_prefix = "croco"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    supports_gradient_checkpointing = True
    _no_split_modules = ["EncoderBlock", "DecoderBlock"]
    _supports_sdpa = True
    _supports_flash_attn = False
    _supports_flex_attn = True  # inference on CPU; training needs a GPU (FlexAttention has no CPU backward)
    _supports_attention_backend = True

    @classmethod
    def from_original(cls, path_or_url: str, cache_dir: str | None = None, **kwargs):
        """Convert an official CroCo checkpoint (file path or URL) and load it into this class (a pretraining
        checkpoint loads into ``CroCoModel`` too, without its pixel head); the conversion is cached."""
        from .convert_croco_original import load_original_cached

        return load_original_cached(cls, path_or_url, cache_dir=cache_dir, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module):
        # upstream: xavier-uniform Linear weights, zero biases, unit LayerNorms, xavier on the flattened patch conv
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, PatchEmbed):
            weight = module.proj.weight
            fan_out, fan_in = weight.shape[0], weight[0].numel()
            bound = (6.0 / (fan_in + fan_out)) ** 0.5
            init.uniform_(weight, -bound, bound)
            init.zeros_(module.proj.bias)
        elif isinstance(module, (CroCoEncoder, CroCoDecoder)) and getattr(module, "pos_embed", None) is not None:
            init.copy_(module.pos_embed, get_2d_sincos_pos_embed(module.pos_embed.shape[-1], self.config.grid_size))
        elif isinstance(module, RotaryEmbedding2D):
            half = module.head_dim // 2
            init.copy_(module.inv_freq, module.f0 / (module.base ** (torch.arange(0, half, 2).float() / half)))
        if isinstance(module, CroCoModel):
            init.normal_(module.mask_token, std=self.config.initializer_range)


# ------------------------------------------------------------------------------------------------- encoder / decoder
def _positions(grid: tuple[int, int], batch: int, device) -> torch.Tensor:
    return grid_positions(*grid, device=device).unsqueeze(0).expand(batch, -1, -1)


def _gather_tokens(tokens: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return torch.gather(tokens, 1, ids.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def _add_position_encoding(module: nn.Module, config: CroCoConfig, dim: int, heads: int) -> None:
    """Cosine: a persistent sin-cos table ``pos_embed`` at the config grid (upstream keeps it in the state dict).
    RoPE: a ``rope`` module for this stack's head dimension, and no table."""
    if config.rope_base is None:
        module.register_buffer("pos_embed", get_2d_sincos_pos_embed(dim, config.grid_size), persistent=True)
        module.rope = None
    else:
        module.pos_embed = None
        module.rope = RotaryEmbedding2D(dim // heads, base=config.rope_base)


class CroCoEncoder(nn.Module):
    """ViT encoder: patch embedding, optional fixed sin-cos table (added before masking), blocks, final norm."""

    def __init__(self, config: CroCoConfig):
        super().__init__()
        self.config = config
        dim, heads = config.encoder_hidden_size, config.encoder_num_attention_heads
        self.patch_embed = PatchEmbed(config.patch_size, config.num_channels, dim)
        _add_position_encoding(self, config, dim, heads)
        self.layers = nn.ModuleList(
            EncoderBlock(config, dim, heads, config.mlp_ratio, config.qkv_bias, config.layer_norm_eps,
                         config.hidden_act, config.attention_dropout)
            for _ in range(config.encoder_num_hidden_layers)
        )
        self.norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)

    def forward(self, pixel_values: torch.Tensor, ids_keep: torch.Tensor | None = None,
                output_hidden_states: bool = False):
        """Returns (tokens B×N_kept×C, positions of all patches B×N×2, grid (h, w), hidden states or None)."""
        x, grid = self.patch_embed(pixel_values)
        batch = x.shape[0]
        positions = _positions(grid, batch, x.device)
        if self.pos_embed is not None:
            x = x + interpolate_pos_embed(self.pos_embed, self.config.grid_size, grid).to(x.dtype)
        kept_positions = positions
        if ids_keep is not None:
            x = _gather_tokens(x, ids_keep)
            kept_positions = _gather_tokens(positions, ids_keep)
        rope = self.rope(kept_positions, dtype=x.dtype) if self.rope is not None else None
        hidden_states = (x,) if output_hidden_states else None
        for layer in self.layers:
            x = layer(x, rope)
            if output_hidden_states:
                hidden_states += (x,)
        return self.norm(x), positions, grid, hidden_states


class CroCoDecoder(nn.Module):
    """Projects encoder tokens to the decoder width, adds the sin-cos table (cosine variant) to both streams, and
    runs the decoder blocks; the second stream is constant across blocks."""

    def __init__(self, config: CroCoConfig):
        super().__init__()
        self.config = config
        dim, heads = config.decoder_hidden_size, config.decoder_num_attention_heads
        self.embed = nn.Linear(config.encoder_hidden_size, dim)
        _add_position_encoding(self, config, dim, heads)
        self.layers = nn.ModuleList(
            DecoderBlock(config, dim, heads, config.mlp_ratio, config.qkv_bias, config.layer_norm_eps,
                         config.norm_second_image_in_decoder, config.hidden_act, config.attention_dropout)
            for _ in range(config.decoder_num_hidden_layers)
        )
        self.norm = nn.LayerNorm(dim, eps=config.layer_norm_eps)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, grid: tuple[int, int], tokens_2: torch.Tensor,
                positions_2: torch.Tensor, grid_2: tuple[int, int], ids_keep: torch.Tensor | None = None,
                mask_token: torch.Tensor | None = None, output_hidden_states: bool = False):
        """``tokens``: encoder output of the first image (only the ``ids_keep`` patches when given, which are then
        scattered into a full grid filled with ``mask_token``). Returns (normed output B×N×C, hidden states)."""
        x = self.embed(tokens)
        y = self.embed(tokens_2)
        if ids_keep is not None:
            if mask_token is None:
                raise ValueError("a mask token is needed to decode a masked first image")
            batch, num = positions.shape[:2]
            full = mask_token.to(x.dtype).expand(batch, num, x.shape[-1])
            x = full.scatter(1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]), x)
        if self.pos_embed is not None:
            x = x + interpolate_pos_embed(self.pos_embed, self.config.grid_size, grid).to(x.dtype)
            y = y + interpolate_pos_embed(self.pos_embed, self.config.grid_size, grid_2).to(y.dtype)
        rope = rope_2 = None
        if self.rope is not None:
            rope = self.rope(positions, dtype=x.dtype)
            rope_2 = rope if positions_2 is positions else self.rope(positions_2, dtype=x.dtype)
        hidden_states = (x,) if output_hidden_states else None
        for layer in self.layers:
            x = layer(x, y, rope, rope_2)
            if output_hidden_states:
                hidden_states += (x,)
        return self.norm(x), hidden_states


# ------------------------------------------------------------------------------------------------------------ models
class CroCoModel(CroCoPreTrainedModel):
    """CroCo encoder + decoder. ``forward(pixel_values, pixel_values_2)`` returns the decoder features of the first
    image conditioned on the second. Pass ``bool_masked_pos`` (B×N bool, True = hidden) or ``noise`` (B×N floats,
    upstream's ``argsort(noise) < num_masked`` rule with ``config.mask_ratio``) to hide patches of the first image;
    by default nothing is hidden. Any image size that is a multiple of the patch size works (non-square included)."""

    # a folder saved from CroCoForPretraining also holds the pixel head, which this class does not use
    _keys_to_ignore_on_load_unexpected = [r"^prediction_head\."]

    def __init__(self, config: CroCoConfig):
        super().__init__(config)
        self.encoder = CroCoEncoder(self.config)
        self.decoder = CroCoDecoder(self.config)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.decoder_hidden_size))
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.patch_embed

    # ---------------------------------------------------------------- masking
    def mask_from_noise(self, noise: torch.Tensor, mask_ratio: float | None = None) -> torch.Tensor:
        """Upstream ``RandomMask`` rule: ``argsort(noise, dim=1) < int(mask_ratio * N)`` (exactly that many per row)."""
        ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        num_masked = int(ratio * noise.shape[1])
        return torch.argsort(noise, dim=1) < num_masked

    def random_mask(self, batch_size: int, num_patches: int, device=None, generator: torch.Generator | None = None,
                    mask_ratio: float | None = None) -> torch.Tensor:
        """Sample a B×N bool mask with exactly ``int(mask_ratio * N)`` hidden patches per row (seed via ``generator``)."""
        noise = torch.rand(batch_size, num_patches, device=device, generator=generator)
        return self.mask_from_noise(noise, mask_ratio)

    @staticmethod
    def ids_to_keep(bool_masked_pos: torch.Tensor, num_visible: int | None = None) -> torch.Tensor:
        """Indices (raster order) of the visible patches; every row must hide the same number of patches.
        ``num_visible`` may be given when it is known statically (sampled masks), which keeps ``torch.compile``
        free of a data-dependent shape."""
        if bool_masked_pos.dtype != torch.bool or bool_masked_pos.ndim != 2:
            raise ValueError(
                f"bool_masked_pos must be a (batch, num_patches) bool tensor, got {bool_masked_pos.dtype} "
                f"{tuple(bool_masked_pos.shape)}"
            )
        if num_visible is None:
            counts = (~bool_masked_pos).sum(dim=1)
            if counts.numel() and bool((counts != counts[0]).any()):
                raise ValueError(f"every image must hide the same number of patches, got visible counts "
                                 f"{counts.tolist()}")
            num_visible = int(counts[0]) if counts.numel() else 0
        return torch.argsort(bool_masked_pos.to(torch.uint8), dim=1, stable=True)[:, :num_visible]

    def _resolve_mask(self, batch, num_patches, device, bool_masked_pos, noise):
        """Returns (bool mask or None, indices of the visible patches or None)."""
        if bool_masked_pos is not None:
            if tuple(bool_masked_pos.shape) != (batch, num_patches):
                raise ValueError(f"bool_masked_pos must have shape ({batch}, {num_patches}), "
                                 f"got {tuple(bool_masked_pos.shape)}")
            bool_masked_pos = bool_masked_pos.to(device)
            return bool_masked_pos, self.ids_to_keep(bool_masked_pos)
        if noise is not None:
            if tuple(noise.shape) != (batch, num_patches):
                raise ValueError(f"noise must have shape ({batch}, {num_patches}), got {tuple(noise.shape)}")
            bool_masked_pos = self.mask_from_noise(noise.to(device))
            num_visible = num_patches - int(self.config.mask_ratio * num_patches)
            return bool_masked_pos, self.ids_to_keep(bool_masked_pos, num_visible)
        return None, None

    # ---------------------------------------------------------------- encode / decode
    def encode(self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor | None = None,
               output_hidden_states: bool = False):
        """Encode one image. Returns (tokens of the visible patches, positions of all patches, grid, hidden states)."""
        ids_keep = self.ids_to_keep(bool_masked_pos) if bool_masked_pos is not None else None
        return self.encoder(pixel_values, ids_keep=ids_keep, output_hidden_states=output_hidden_states)

    def decode(self, tokens, positions, bool_masked_pos, tokens_2, positions_2, output_hidden_states: bool = False):
        """Decode first-image tokens (visible ones when ``bool_masked_pos`` is given) against the second image."""
        grid = _grid_from_positions(positions)
        grid_2 = _grid_from_positions(positions_2)
        ids_keep = self.ids_to_keep(bool_masked_pos) if bool_masked_pos is not None else None
        return self.decoder(tokens, positions, grid, tokens_2, positions_2, grid_2, ids_keep=ids_keep,
                            mask_token=self.mask_token, output_hidden_states=output_hidden_states)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        pixel_values_2: torch.Tensor,
        bool_masked_pos: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> CroCoModelOutput:
        _check_pair(pixel_values, pixel_values_2, self.config.num_channels)
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        batch = pixel_values.shape[0]
        p = self.config.patch_size
        num_patches = (pixel_values.shape[-2] // p) * (pixel_values.shape[-1] // p)
        bool_masked_pos, ids_keep = self._resolve_mask(batch, num_patches, pixel_values.device, bool_masked_pos, noise)

        if pixel_values.shape == pixel_values_2.shape and not output_hidden_states and ids_keep is None:
            # both images unmasked and of one size: one batched encoder pass
            both, positions, grid, _ = self.encoder(torch.cat([pixel_values, pixel_values_2], dim=0))
            feat, feat_2 = both.chunk(2, dim=0)
            positions, positions_2, grid_2 = positions[:batch], positions[batch:], grid
            hidden, hidden_2 = None, None
        else:
            feat, positions, grid, hidden = self.encoder(pixel_values, ids_keep, output_hidden_states)
            feat_2, positions_2, grid_2, hidden_2 = self.encoder(pixel_values_2, None, output_hidden_states)
        if positions_2.shape == positions.shape and grid_2 == grid:
            positions_2 = positions  # identical grids: lets the decoder compute the RoPE tables once
        decoded, dec_hidden = self.decoder(feat, positions, grid, feat_2, positions_2, grid_2, ids_keep=ids_keep,
                                           mask_token=self.mask_token, output_hidden_states=output_hidden_states)
        if bool_masked_pos is None:
            bool_masked_pos = torch.zeros(batch, num_patches, dtype=torch.bool, device=pixel_values.device)
        return CroCoModelOutput(
            last_hidden_state=decoded,
            encoder_last_hidden_state=feat,
            encoder_last_hidden_state_2=feat_2,
            bool_masked_pos=bool_masked_pos,
            positions=positions,
            positions_2=positions_2,
            encoder_hidden_states=hidden,
            encoder_hidden_states_2=hidden_2,
            decoder_hidden_states=dec_hidden,
        )


class CroCoForPretraining(CroCoPreTrainedModel):
    """CroCo with its pixel-prediction head: hides ``mask_ratio`` of the first image's patches and reconstructs them
    from the visible ones and the second image. Always returns the masked MSE loss against ``labels`` (the first
    image by default), so the ``Trainer`` needs no custom ``compute_loss``."""

    def __init__(self, config: CroCoConfig):
        super().__init__(config)
        self.croco = CroCoModel(self.config)
        self.prediction_head = nn.Linear(
            config.decoder_hidden_size, config.patch_size**2 * config.num_channels
        )
        self.post_init()

    def patchify(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return patchify(pixel_values, self.config.patch_size)

    def unpatchify(self, patches: torch.Tensor, image_size: tuple[int, int] | None = None) -> torch.Tensor:
        """B×N×(p·p·C) → B×C×H×W. ``image_size`` defaults to the config's size, or a square grid of N patches."""
        p = self.config.patch_size
        if image_size is not None:
            grid = (image_size[0] // p, image_size[1] // p)
        elif patches.shape[1] == self.config.num_patches:
            grid = self.config.grid_size
        else:
            side = int(round(patches.shape[1] ** 0.5))
            if side * side != patches.shape[1]:
                raise ValueError(f"{patches.shape[1]} patches do not form a square grid: pass image_size=(H, W)")
            grid = (side, side)
        return unpatchify(patches, p, grid, self.config.num_channels)

    def reconstruct(self, logits: torch.Tensor, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor,
                    paste_visible: bool = True) -> torch.Tensor:
        """Turn predicted patches back into a (normalised-pixel) image of the first input for display.

        With ``norm_pix_loss`` the predictions are standardised patches: they are mapped back with the mean and
        unbiased variance of the corresponding *input* patches, as upstream's demo does. With ``paste_visible`` the
        visible patches are taken from the input. Returns B×C×H×W in the processor's normalised space."""
        target = self.patchify(pixel_values).float()
        pred = logits.float()
        if self.config.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            pred = pred * (var + 1e-6) ** 0.5 + mean
        if paste_visible:
            pred = torch.where(bool_masked_pos.unsqueeze(-1), pred, target)
        return self.unpatchify(pred, image_size=tuple(pixel_values.shape[-2:]))

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        pixel_values_2: torch.Tensor,
        bool_masked_pos: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> CroCoForPretrainingOutput:
        r"""
        bool_masked_pos: B×N bool, True = hidden. If absent, sampled from ``noise`` (B×N) or from ``torch.rand``
            with ``config.mask_ratio`` (seed with ``torch.manual_seed`` or pass ``noise``).
        labels: target image B×C×H×W for the loss; defaults to ``pixel_values``.
        """
        _check_pair(pixel_values, pixel_values_2, self.config.num_channels)
        batch = pixel_values.shape[0]
        p = self.config.patch_size
        num_patches = (pixel_values.shape[-2] // p) * (pixel_values.shape[-1] // p)
        if bool_masked_pos is None and noise is None:
            noise = torch.rand(batch, num_patches, device=pixel_values.device)
        outputs = self.croco(pixel_values, pixel_values_2, bool_masked_pos=bool_masked_pos, noise=noise,
                             output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.prediction_head(outputs.last_hidden_state)
        target_image = pixel_values if labels is None else labels
        if target_image.shape != pixel_values.shape:
            raise ValueError(f"labels must have the shape of pixel_values {tuple(pixel_values.shape)}, "
                             f"got {tuple(target_image.shape)}")
        loss = masked_patch_mse_loss(logits, self.patchify(target_image), outputs.bool_masked_pos,
                                     self.config.norm_pix_loss)
        return CroCoForPretrainingOutput(
            loss=loss,
            logits=logits,
            bool_masked_pos=outputs.bool_masked_pos,
            last_hidden_state=outputs.last_hidden_state,
            encoder_hidden_states=outputs.encoder_hidden_states,
            encoder_hidden_states_2=outputs.encoder_hidden_states_2,
            decoder_hidden_states=outputs.decoder_hidden_states,
        )


def _grid_from_positions(positions: torch.Tensor) -> tuple[int, int]:
    return (int(positions[0, -1, 0]) + 1, int(positions[0, -1, 1]) + 1)


def _check_pair(pixel_values: torch.Tensor, pixel_values_2: torch.Tensor, channels: int):
    for name, px in (("pixel_values", pixel_values), ("pixel_values_2", pixel_values_2)):
        if not isinstance(px, torch.Tensor) or px.ndim != 4 or px.shape[1] != channels:
            shape = tuple(px.shape) if isinstance(px, torch.Tensor) else type(px).__name__
            raise ValueError(f"{name} must be a (batch, {channels}, height, width) tensor, got {shape}")
        if not px.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor (normalised pixels), got {px.dtype}")
    if pixel_values.shape[0] != pixel_values_2.shape[0]:
        raise ValueError(f"the two images need the same batch size, got {pixel_values.shape[0]} and "
                         f"{pixel_values_2.shape[0]}")


__all__ = ["CroCoModel", "CroCoForPretraining", "CroCoPreTrainedModel", "CroCoModelOutput",
           "CroCoForPretrainingOutput", "masked_patch_mse_loss"]
