"""Training augmentations of CroCo-Stereo / CroCo-Flow (naver/croco ``stereoflow/augmentor.py``, described in the
research note; independently implemented in torch).

Both augmentors take one example ``{"pixel_values", "pixel_values_2"}`` (float 3×H×W in [0, 1], not normalised)
and ``labels`` (disparity 1×H×W or flow 2×H×W, non-finite = invalid) and return the same keys at the crop size,
the images normalised with the ImageNet mean/std. Every geometric change is applied to the ground truth too, so the
labels stay exact:

* :class:`StereoAugmentor` — with p=0.5 a horizontal-only rescale ``sx = 2^U(min_scale, max_scale)`` (disparity ×
  ``sx``, nearest-neighbour resize so invalid pixels stay invalid), the same random crop in both views, a vertical
  flip of both views (p=0.5), a small rotation (≤ 0.1°) and vertical shift (≤ 2 px) of the *right* view only (p=0.5;
  upstream's robustness to imperfect rectification, which on purpose leaves the labels unchanged), and colour jitter
  (with p=0.5 one random operation, otherwise all of brightness/contrast/saturation/hue/gamma in random order, each
  with p=0.5; each operation draws separate factors for the two views with p=0.5).
* :class:`FlowAugmentor` (RAFT-style) — with p=0.8 a rescale ``2^U(min_scale, max_scale)``, stretched per axis by
  ``2^U(-max_stretch, max_stretch)`` with p=0.8 (flow ×(sx, sy), bilinear where valid), a horizontal flip (p=0.5;
  u negated) and a vertical flip (p=0.1; v negated) of both frames, the same random crop in both frames, and colour
  jitter (brightness/contrast/saturation 0.4, hue 0.5/π), drawn separately for each frame with p=0.2.

The randomness of item ``index`` is a pure function of ``(seed, epoch, index)`` (``set_epoch`` changes it), which keeps
``--resume_from_checkpoint`` exact and multi-process runs reproducible. ``augment=False`` gives a deterministic
centre crop and normalisation only (evaluation); ``color_jitter=False`` keeps the geometric augmentations only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from .augment import IMAGENET_MEAN, IMAGENET_STD, adjust_brightness, adjust_contrast, adjust_saturation

__all__ = ["FlowAugmentor", "StereoAugmentor", "adjust_gamma", "adjust_hue", "resize_labels"]


def adjust_gamma(image: torch.Tensor, gamma: float) -> torch.Tensor:
    return image.clamp(0.0, 1.0).pow(gamma)


def adjust_hue(image: torch.Tensor, shift: float) -> torch.Tensor:
    """Rotate the hue of a 3×H×W image in [0, 1] by ``shift`` turns (in [-0.5, 0.5]), through HSV."""
    r, g, b = image.clamp(0.0, 1.0)
    maxc, _ = image.max(dim=0)
    minc, _ = image.min(dim=0)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue = torch.where(maxc == r, ((g - b) / safe) % 6, torch.where(maxc == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(delta > 0, hue / 6.0, torch.zeros_like(hue))
    hue = (hue + shift) % 1.0
    sat = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), torch.zeros_like(maxc))
    value = maxc
    sector = hue * 6.0
    k = (torch.tensor([5.0, 3.0, 1.0]).view(3, 1, 1) + sector) % 6
    return value - value * sat * torch.clamp(torch.minimum(k, 4 - k), 0.0, 1.0)


def resize_labels(labels: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize a C×H×W disparity/flow map to ``size`` and rescale its values (x by the width ratio, y by the height
    ratio). ``mode="nearest"`` keeps invalid (non-finite) pixels as they are; ``"bilinear"`` interpolates the valid
    values and marks a pixel invalid when any of its bilinear neighbours is."""
    height, width = labels.shape[-2:]
    scale = torch.tensor([size[1] / width, size[0] / height][: labels.shape[0]], dtype=labels.dtype).view(-1, 1, 1)
    if mode == "nearest":
        return F.interpolate(labels[None], size=size, mode="nearest")[0] * scale
    if mode != "bilinear":
        raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
    valid = torch.isfinite(labels).all(dim=0, keepdim=True)
    filled = torch.where(valid, labels, torch.zeros_like(labels))
    out = F.interpolate(filled[None], size=size, mode="bilinear", align_corners=False)[0]
    weight = F.interpolate(valid[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    return torch.where(weight > 1.0 - 1e-6, out * scale, torch.full_like(out, float("inf")))


def _resize_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0].clamp(0, 1)


def _check_crop(crop_size) -> tuple[int, int]:
    if isinstance(crop_size, int) and not isinstance(crop_size, bool):
        crop_size = (crop_size, crop_size)
    if (not isinstance(crop_size, (tuple, list)) or len(crop_size) != 2
            or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in crop_size)):
        raise ValueError(f"crop_size must be a positive int or a (height, width) pair, got {crop_size!r}")
    return int(crop_size[0]), int(crop_size[1])


class _PairAugmentor:
    task = ""

    def __init__(self, crop_size, augment: bool = True, seed: int = 0, color_jitter: bool = True,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD):
        self.crop_size = _check_crop(crop_size)
        self.color_jitter = color_jitter
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _check(self, image_1, image_2, labels):
        for name, image in (("pixel_values", image_1), ("pixel_values_2", image_2)):
            if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3 \
                    or not image.is_floating_point():
                raise ValueError(f"{name} must be a float 3×H×W tensor in [0, 1], got "
                                 f"{getattr(image, 'shape', type(image).__name__)}")
        if image_1.shape != image_2.shape:
            raise ValueError(f"the two images must have the same size, got {tuple(image_1.shape)} and "
                             f"{tuple(image_2.shape)}")
        channels = 1 if self.task == "stereo" else 2
        if labels is not None and tuple(labels.shape) != (channels, *image_1.shape[-2:]):
            raise ValueError(f"labels must be {channels}×H×W ({self.task}) matching the images, got "
                             f"{tuple(labels.shape)}")

    def _crop_window(self, height, width, rng) -> tuple[int, int]:
        ch, cw = self.crop_size
        if height < ch or width < cw:
            raise ValueError(f"the images are {height}x{width}, smaller than the crop size {ch}x{cw}; use larger "
                             "images (or render size) or a smaller crop")
        if not self.augment:
            return (height - ch) // 2, (width - cw) // 2
        return int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1))

    def _normalise(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.mean) / self.std

    def __call__(self, example: dict, index: int = 0) -> dict:
        image_1, image_2 = example["pixel_values"].float(), example["pixel_values_2"].float()
        labels = example.get("labels")
        self._check(image_1, image_2, labels)
        labels = None if labels is None else labels.float()
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        if self.augment and self.color_jitter:
            image_1, image_2 = self._color(image_1, image_2, rng)
        if self.augment:
            image_1, image_2, labels = self._spatial(image_1, image_2, labels, rng)
        top, left = self._crop_window(*image_1.shape[-2:], rng)
        ch, cw = self.crop_size
        window = (slice(None), slice(top, top + ch), slice(left, left + cw))
        out = {"pixel_values": self._normalise(image_1[window]).contiguous(),
               "pixel_values_2": self._normalise(image_2[window]).contiguous()}
        if labels is not None:
            out["labels"] = labels[window].contiguous()
        if self.augment and self.task == "stereo":
            out["pixel_values_2"] = self._right_jitter(out["pixel_values_2"], rng)
        return out

    def _right_jitter(self, image, rng):
        return image


class StereoAugmentor(_PairAugmentor):
    """Upstream ``StereoAugmentor`` (see the module docstring). ``min_scale`` / ``max_scale`` are log2 bounds of the
    horizontal rescale (upstream: (-0.2, 0.4), or (0, 1) for images whose shorter side is below 800 px)."""

    task = "stereo"

    def __init__(self, crop_size, augment: bool = True, seed: int = 0, min_scale: float = -0.2,
                 max_scale: float = 0.4, scale_prob: float = 0.5, vflip_prob: float = 0.5,
                 right_jitter_prob: float = 0.5, max_jitter_angle: float = 0.1, max_jitter_shift: float = 2.0,
                 **kwargs):
        super().__init__(crop_size, augment=augment, seed=seed, **kwargs)
        if not min_scale <= max_scale:
            raise ValueError(f"need min_scale <= max_scale, got {min_scale}, {max_scale}")
        self.min_scale, self.max_scale, self.scale_prob = float(min_scale), float(max_scale), float(scale_prob)
        self.vflip_prob, self.right_jitter_prob = float(vflip_prob), float(right_jitter_prob)
        self.max_jitter_angle, self.max_jitter_shift = float(max_jitter_angle), float(max_jitter_shift)

    def _color(self, image_1, image_2, rng):
        ops = [("contrast", adjust_contrast, (0.6, 1.4)), ("gamma", adjust_gamma, (0.8, 1.2)),
               ("brightness", adjust_brightness, (0.6, 1.4)), ("hue", adjust_hue, (-0.5 / math.pi, 0.5 / math.pi)),
               ("saturation", adjust_saturation, (0.0, 1.4))]
        if rng.random() < 0.5:
            chosen = [ops[int(rng.integers(len(ops)))]]
        else:
            chosen = [ops[int(i)] for i in rng.permutation(len(ops)) if rng.random() < 0.5]
        for _, fn, (low, high) in chosen:
            factor_1 = float(rng.uniform(low, high))
            factor_2 = float(rng.uniform(low, high)) if rng.random() < 0.5 else factor_1
            image_1, image_2 = fn(image_1, factor_1), fn(image_2, factor_2)
        return image_1, image_2

    def _spatial(self, image_1, image_2, labels, rng):
        height, width = image_1.shape[-2:]
        if rng.random() < self.scale_prob:
            sx = 2.0 ** float(rng.uniform(self.min_scale, self.max_scale))
            new_width = max(self.crop_size[1], int(round(width * sx)))
            size = (height, new_width)
            image_1, image_2 = _resize_image(image_1, size), _resize_image(image_2, size)
            if labels is not None:
                labels = resize_labels(labels, size, "nearest")
        if rng.random() < self.vflip_prob:
            image_1, image_2 = image_1.flip(-2), image_2.flip(-2)
            labels = None if labels is None else labels.flip(-2)
        return image_1, image_2, labels

    def _right_jitter(self, image, rng):
        if rng.random() >= self.right_jitter_prob:
            return image
        angle = math.radians(float(rng.uniform(-self.max_jitter_angle, self.max_jitter_angle)))
        shift = float(rng.uniform(-self.max_jitter_shift, self.max_jitter_shift))
        height, width = image.shape[-2:]
        # affine_grid works in normalised coordinates: a y-shift of `shift` pixels is 2·shift/height
        theta = torch.tensor([[math.cos(angle), -math.sin(angle) * height / width, 0.0],
                              [math.sin(angle) * width / height, math.cos(angle), 2.0 * shift / height]],
                             dtype=image.dtype)
        grid = F.affine_grid(theta[None], [1, 3, height, width], align_corners=False)
        return F.grid_sample(image[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


class FlowAugmentor(_PairAugmentor):
    """Upstream (RAFT-style) ``FlowAugmentor`` (see the module docstring); scales are log2 bounds."""

    task = "flow"

    def __init__(self, crop_size, augment: bool = True, seed: int = 0, min_scale: float = -0.2,
                 max_scale: float = 0.5, max_stretch: float = 0.2, scale_prob: float = 0.8,
                 stretch_prob: float = 0.8, hflip_prob: float = 0.5, vflip_prob: float = 0.1,
                 asymmetric_color_prob: float = 0.2, **kwargs):
        super().__init__(crop_size, augment=augment, seed=seed, **kwargs)
        if not min_scale <= max_scale:
            raise ValueError(f"need min_scale <= max_scale, got {min_scale}, {max_scale}")
        self.min_scale, self.max_scale, self.max_stretch = float(min_scale), float(max_scale), float(max_stretch)
        self.scale_prob, self.stretch_prob = float(scale_prob), float(stretch_prob)
        self.hflip_prob, self.vflip_prob = float(hflip_prob), float(vflip_prob)
        self.asymmetric_color_prob = float(asymmetric_color_prob)

    def _draw_jitter(self, rng):
        ops = [(adjust_brightness, (0.6, 1.4)), (adjust_contrast, (0.6, 1.4)), (adjust_saturation, (0.6, 1.4)),
               (adjust_hue, (-0.5 / math.pi, 0.5 / math.pi))]
        return [(ops[int(i)][0], float(rng.uniform(*ops[int(i)][1]))) for i in rng.permutation(len(ops))]

    def _color(self, image_1, image_2, rng):
        first = self._draw_jitter(rng)
        second = self._draw_jitter(rng) if rng.random() < self.asymmetric_color_prob else first
        for fn, factor in first:
            image_1 = fn(image_1, factor)
        for fn, factor in second:
            image_2 = fn(image_2, factor)
        return image_1, image_2

    def _spatial(self, image_1, image_2, labels, rng):
        height, width = image_1.shape[-2:]
        ch, cw = self.crop_size
        sx = sy = 1.0
        if rng.random() < self.scale_prob:
            sx = sy = 2.0 ** float(rng.uniform(self.min_scale, self.max_scale))
            if rng.random() < self.stretch_prob:
                sx *= 2.0 ** float(rng.uniform(-self.max_stretch, self.max_stretch))
                sy *= 2.0 ** float(rng.uniform(-self.max_stretch, self.max_stretch))
        size = (max(ch, int(round(height * sy))), max(cw, int(round(width * sx))))
        if size != (height, width):
            image_1, image_2 = _resize_image(image_1, size), _resize_image(image_2, size)
            if labels is not None:
                labels = resize_labels(labels, size, "bilinear")
        sign = torch.ones(2, 1, 1)
        if rng.random() < self.hflip_prob:
            image_1, image_2 = image_1.flip(-1), image_2.flip(-1)
            sign[0] = -1
            labels = None if labels is None else labels.flip(-1)
        if rng.random() < self.vflip_prob:
            image_1, image_2 = image_1.flip(-2), image_2.flip(-2)
            sign[1] = -1
            labels = None if labels is None else labels.flip(-2)
        if labels is not None:
            labels = labels * sign
        return image_1, image_2, labels
