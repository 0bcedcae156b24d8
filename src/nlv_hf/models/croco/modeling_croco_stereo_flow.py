"""CroCo-Stereo and CroCo-Flow: a CroCo v2 encoder/decoder with a DPT head for dense binocular regression.

Behaviour follows naver/croco ``models/croco_downstream.py`` (``CroCoDownstreamBinocular``) and
``models/head_downstream.py`` (``PixelwiseTaskWithDPT``), read for behaviour and independently implemented:

* both images go through the encoder in **one** batched pass (concatenated on the batch dimension);
* the decoder runs on the first image's (normalised) encoder output, cross-attending to the second image's;
* the DPT head reads four of the block outputs [encoder blocks..., decoder blocks...] (``config.dpt_hooks``; the last
  encoder and last decoder outputs are the normalised ones) and returns B×(task channels + confidence)×H×W.

The model runs at any size whose sides are multiples of 32. For benchmark-faithful inference at any image size, use
:class:`nlv_hf.pipelines.StereoFlowPipeline` (tiles of ``config.image_size`` blended by confidence, as upstream).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from nlv_hf.layers.dpt import DPTHead

from .configuration_croco_stereo_flow import CroCoFlowConfig, CroCoStereoConfig, CroCoStereoFlowConfig
from .losses_stereo_flow import loss_from_config
from .modeling_croco import CroCoDecoder, CroCoEncoder, CroCoPreTrainedModel, _check_pair


@dataclass
class CroCoStereoFlowOutput(ModelOutput):
    """
    loss: the configured confidence-aware loss against ``labels`` (when given).
    logits: raw head output B×(C[+1])×H×W (upstream's ``pred``): the C task channels, then the confidence channel.
    prediction: B×C×H×W disparity (C = 1, stereo) or flow (u, v) (C = 2, flow).
    confidence: B×H×W raw confidence channel (``None`` for a model trained without confidence).
    encoder_hidden_states: with ``output_hidden_states``, the first image's encoder block outputs (the last one
        normalised), each B×N×encoder_hidden_size.
    decoder_hidden_states: likewise the decoder block outputs (the last one normalised).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    prediction: torch.FloatTensor | None = None
    confidence: torch.FloatTensor | None = None
    encoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    decoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None


class CroCoStereoFlowPreTrainedModel(CroCoPreTrainedModel):
    config: CroCoStereoFlowConfig
    config_class = CroCoStereoFlowConfig
    base_model_prefix = "croco_stereo_flow"
    _keys_to_ignore_on_load_unexpected = None

    @classmethod
    def from_original(cls, path_or_url: str, cache_dir: str | None = None, **kwargs):
        """Convert an official CroCo-Stereo / CroCo-Flow checkpoint (path or URL) and load it; cached."""
        from .convert_croco_stereo_flow_original import load_original_cached

        return load_original_cached(cls, path_or_url, cache_dir=cache_dir, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, DPTHead):
            # PyTorch's default convolution init (what upstream's DPT head gets): U(±1/sqrt(fan_in)) for both
            for conv in module.modules():
                if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)):
                    bound = 1.0 / conv.weight[0].numel() ** 0.5
                    init.uniform_(conv.weight, -bound, bound)
                    if conv.bias is not None:
                        init.uniform_(conv.bias, -bound, bound)


class _CroCoBinocularDPT(CroCoStereoFlowPreTrainedModel):
    """Encoder (shared by both images, one batched pass) + decoder + DPT head."""

    _no_split_modules = ["EncoderBlock", "DecoderBlock", "DPTHead"]

    def __init__(self, config: CroCoStereoFlowConfig):
        super().__init__(config)
        self.encoder = CroCoEncoder(self.config)
        self.decoder = CroCoDecoder(self.config)
        self.head = DPTHead(config.dpt_input_dims, config.num_output_channels, config.dpt_layer_dims,
                            config.dpt_feature_dim, config.dpt_last_dim, config.patch_size)
        self.post_init()

    def get_input_embeddings(self):
        return self.encoder.patch_embed

    @torch.no_grad()
    def load_pretrained_backbone(self, croco) -> None:
        """Initialise the encoder and decoder from a pretrained CroCo v2 model (``CroCoModel`` or
        ``CroCoForPretraining``), as upstream fine-tuning starts from a pretraining checkpoint; the DPT head keeps its
        initialisation. The backbone widths and depths must match (strict)."""
        croco = getattr(croco, "croco", croco)
        for name in ("encoder", "decoder"):
            source = getattr(croco, name, None)
            if source is None:
                raise ValueError(f"expected a CroCoModel / CroCoForPretraining, got {type(croco).__name__}")
            try:
                getattr(self, name).load_state_dict(source.state_dict(), strict=True)
            except RuntimeError as err:
                raise ValueError(f"the pretrained CroCo {name} does not match this model's: {err}") from err

    # ---------------------------------------------------------------- pieces (upstream calls, for parity/analysis)
    def encode_pairs(self, pixel_values: torch.Tensor, pixel_values_2: torch.Tensor):
        """Encode both images in one batched pass. Returns (the first image's block outputs, the last one
        normalised; the second image's normalised output; positions of image 1; positions of image 2)."""
        batch = pixel_values.shape[0]
        last, positions, _, hidden = self.encoder(torch.cat([pixel_values, pixel_values_2], dim=0),
                                                  output_hidden_states=True)
        blocks = tuple(h[:batch] for h in hidden[1:-1]) + (last[:batch],)
        return blocks, last[batch:], positions[:batch], positions[batch:]

    def decode(self, tokens: torch.Tensor, positions: torch.Tensor, tokens_2: torch.Tensor,
               positions_2: torch.Tensor):
        """Decoder on the first image's tokens against the second's. Returns the block outputs (last normalised)."""
        grid = (int(positions[0, -1, 0]) + 1, int(positions[0, -1, 1]) + 1)
        grid_2 = (int(positions_2[0, -1, 0]) + 1, int(positions_2[0, -1, 1]) + 1)
        if positions_2.shape == positions.shape and torch.equal(positions_2, positions):
            positions_2 = positions
        return self._decode(tokens, positions, grid, tokens_2, positions_2, grid_2)

    def _decode(self, tokens, positions, grid, tokens_2, positions_2, grid_2):
        last, hidden = self.decoder(tokens, positions, grid, tokens_2, positions_2, grid_2, output_hidden_states=True)
        return tuple(hidden[1:-1]) + (last,)

    def head_forward(self, block_outputs, image_size: tuple[int, int]) -> torch.Tensor:
        """DPT head on the list [encoder block outputs..., decoder block outputs...] (upstream ``model.head``)."""
        return self.head([block_outputs[h] for h in self.config.dpt_hooks], image_size)

    # ---------------------------------------------------------------- forward
    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor,
        pixel_values_2: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> CroCoStereoFlowOutput:
        r"""
        pixel_values / pixel_values_2: B×3×H×W normalised images (left/right for stereo, frames t/t+1 for flow); the
            sides must be multiples of 32.
        labels: B×C×H×W ground-truth disparity (C = 1) or flow (C = 2); invalid pixels are non-finite (e.g. inf).
        """
        _check_pair(pixel_values, pixel_values_2, self.config.num_channels)
        if pixel_values.shape != pixel_values_2.shape:
            raise ValueError(f"the two images must have the same size, got {tuple(pixel_values.shape)} and "
                             f"{tuple(pixel_values_2.shape)}")
        height, width = pixel_values.shape[-2:]
        if height % 32 or width % 32:
            raise ValueError(f"image sides must be multiples of 32 for the DPT head, got {height}x{width}; use "
                             "nlv_hf.pipelines.StereoFlowPipeline for images of any size")
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        batch = pixel_values.shape[0]
        last, positions, grid, hidden = self.encoder(torch.cat([pixel_values, pixel_values_2], dim=0),
                                                     output_hidden_states=True)
        encoder_blocks = tuple(h[:batch] for h in hidden[1:-1]) + (last[:batch],)
        positions = positions[:batch]
        decoder_blocks = self._decode(last[:batch], positions, grid, last[batch:], positions, grid)
        logits = self.head_forward(encoder_blocks + decoder_blocks, (height, width))

        channels = self.config.task_channels
        prediction = logits[:, :channels]
        confidence = logits[:, channels] if self.config.with_confidence else None
        loss = None
        if labels is not None:
            if labels.shape != prediction.shape:
                raise ValueError(f"labels must have shape {tuple(prediction.shape)} (batch, {channels}, H, W), got "
                                 f"{tuple(labels.shape)}")
            loss = loss_from_config(self.config, prediction, labels, confidence)
        return CroCoStereoFlowOutput(
            loss=loss,
            logits=logits,
            prediction=prediction,
            confidence=confidence,
            encoder_hidden_states=encoder_blocks if output_hidden_states else None,
            decoder_hidden_states=decoder_blocks if output_hidden_states else None,
        )


class CroCoForStereoMatching(_CroCoBinocularDPT):
    """CroCo-Stereo: disparity of the left image (``pixel_values``) given the right one (``pixel_values_2``), with a
    per-pixel confidence. ``model(left, right).prediction`` is B×1×H×W."""

    config: CroCoStereoConfig
    config_class = CroCoStereoConfig


class CroCoForOpticalFlow(_CroCoBinocularDPT):
    """CroCo-Flow: optical flow (u, v) from ``pixel_values`` to ``pixel_values_2``, with a per-pixel confidence.
    ``model(frame1, frame2).prediction`` is B×2×H×W."""

    config: CroCoFlowConfig
    config_class = CroCoFlowConfig


__all__ = ["CroCoForOpticalFlow", "CroCoForStereoMatching", "CroCoStereoFlowOutput", "CroCoStereoFlowPreTrainedModel"]
