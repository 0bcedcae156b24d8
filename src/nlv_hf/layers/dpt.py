"""DPT (Dense Prediction Transformer) head: turns four token maps of a ViT into a dense full-resolution output.

Behaviour follows the ``DPTOutputAdapter`` used by naver/croco (``models/dpt_block.py``, itself from MultiMAE/DPT;
read for behaviour, independently implemented), with the ``"regression"`` output head and no batch norm:

* each of the four token maps (B×N×C, raster order over an ``h×w`` patch grid) is reshaped to B×C×h×w and projected
  with a 1×1 convolution to ``layer_dims[i]`` channels, then resampled to strides 4, 8, 16 and 32 (transposed
  convolutions ×4 and ×2, identity, 3×3 stride-2 convolution);
* a 3×3 convolution (no bias) brings each to ``feature_dim`` channels; four fusion blocks merge them from the
  coarsest to the finest, each upsampling ×2 (bilinear, ``align_corners=True``);
* the output head (conv 3×3 → ×2 bilinear → conv 3×3 → ReLU → conv 1×1) yields ``num_channels`` raw maps at the
  input resolution ``(patch_size·h) × (patch_size·w)``.

The strides assume a patch size of 16 (as upstream, which hard-codes it); the patch grid must have an even number of
rows and columns so that the stride-32 map upsamples back onto the stride-16 one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class DPTResidualConvUnit(nn.Module):
    """``x + conv2(relu(conv1(relu(x))))`` with 3×3 convolutions (with bias, no normalisation)."""

    def __init__(self, features: int):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class DPTFusionBlock(nn.Module):
    """Adds the (residual-refined) skip input to the coarser path, refines, upsamples ×2 and projects (1×1)."""

    def __init__(self, features: int):
        super().__init__()
        self.res_conv_unit1 = DPTResidualConvUnit(features)
        self.res_conv_unit2 = DPTResidualConvUnit(features)
        self.out_conv = nn.Conv2d(features, features, kernel_size=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.res_conv_unit1(skip)
        x = self.res_conv_unit2(x)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.out_conv(x)


class DPTUpsample(nn.Module):
    """×2 bilinear upsampling (``align_corners=True``) as a module, so the output head stays a ``Sequential``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class DPTHead(nn.Module):
    """Dense prediction head over four ViT token maps.

    Args:
        input_dims: channel width of each of the four token maps (e.g. encoder width for an encoder hook, decoder
            width for a decoder hook).
        num_channels: number of output maps.
        layer_dims: widths of the four reassembled maps (upstream default ``[96, 192, 384, 768]``).
        feature_dim: width of the fusion path (upstream 256).
        last_dim: width before the final 1×1 convolution (upstream 32).
        patch_size: patch size of the backbone (the reassembly strides assume 16).
    """

    def __init__(self, input_dims: Sequence[int], num_channels: int, layer_dims: Sequence[int] = (96, 192, 384, 768),
                 feature_dim: int = 256, last_dim: int = 32, patch_size: int = 16):
        super().__init__()
        if len(input_dims) != 4 or len(layer_dims) != 4:
            raise ValueError(f"the DPT head takes exactly 4 token maps; got input_dims={list(input_dims)} and "
                             f"layer_dims={list(layer_dims)}")
        if patch_size != 16:
            raise ValueError(f"the DPT head assumes a patch size of 16 (its resampling strides are 4/8/16/32), "
                             f"got {patch_size}")
        self.patch_size = patch_size
        self.num_channels = num_channels
        d = list(layer_dims)
        self.act_postprocess = nn.ModuleList([
            nn.Sequential(nn.Conv2d(input_dims[0], d[0], 1), nn.ConvTranspose2d(d[0], d[0], 4, stride=4)),
            nn.Sequential(nn.Conv2d(input_dims[1], d[1], 1), nn.ConvTranspose2d(d[1], d[1], 2, stride=2)),
            nn.Sequential(nn.Conv2d(input_dims[2], d[2], 1)),
            nn.Sequential(nn.Conv2d(input_dims[3], d[3], 1), nn.Conv2d(d[3], d[3], 3, stride=2, padding=1)),
        ])
        self.layer_rn = nn.ModuleList(nn.Conv2d(dim, feature_dim, 3, padding=1, bias=False) for dim in d)
        self.refinenet1 = DPTFusionBlock(feature_dim)
        self.refinenet2 = DPTFusionBlock(feature_dim)
        self.refinenet3 = DPTFusionBlock(feature_dim)
        self.refinenet4 = DPTFusionBlock(feature_dim)
        self.output_head = nn.Sequential(
            nn.Conv2d(feature_dim, feature_dim // 2, 3, padding=1),
            DPTUpsample(),
            nn.Conv2d(feature_dim // 2, last_dim, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(last_dim, num_channels, 1),
        )

    def forward(self, hidden_states: Sequence[torch.Tensor], image_size: tuple[int, int]) -> torch.Tensor:
        """``hidden_states``: four B×N×C token maps over the patch grid of an image of ``image_size=(H, W)``.
        Returns B×num_channels×H×W."""
        if len(hidden_states) != 4:
            raise ValueError(f"the DPT head takes exactly 4 token maps, got {len(hidden_states)}")
        height, width = int(image_size[0]) // self.patch_size, int(image_size[1]) // self.patch_size
        if height % 2 or width % 2:
            raise ValueError(f"the DPT head needs an even patch grid (image sides multiples of {2 * self.patch_size}),"
                             f" got a {height}x{width} grid for an image of {tuple(image_size)}")
        maps = []
        for i, tokens in enumerate(hidden_states):
            if tokens.ndim != 3 or tokens.shape[1] != height * width:
                raise ValueError(f"token map {i} has shape {tuple(tokens.shape)}, expected (batch, {height * width}, "
                                 "channels)")
            grid = tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], height, width)
            maps.append(self.layer_rn[i](self.act_postprocess[i](grid)))
        path = self.refinenet4(maps[3])
        path = self.refinenet3(path, maps[2])
        path = self.refinenet2(path, maps[1])
        path = self.refinenet1(path, maps[0])
        return self.output_head(path)


__all__ = ["DPTFusionBlock", "DPTHead", "DPTResidualConvUnit", "DPTUpsample"]
