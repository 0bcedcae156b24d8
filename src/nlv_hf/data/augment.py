"""Pair augmentations of the CroCo pretraining recipe (upstream ``crop224+acolor``).

Upstream draws an **independent** random crop for each image of a pair (``RandomCropPair``) and an independent colour
jitter for each image (``ColorJitterPair(assymetric_prob=1.0, brightness=contrast=saturation=(0.6, 1.4), hue=0)``,
the three operations in random order), then ``ToTensor`` and ImageNet normalisation.

Here the randomness of item ``index`` is a pure function of ``(seed, epoch, index)``: the result does not depend on
the global RNG, on the data-loader worker or on how many items were drawn before, which makes
``--resume_from_checkpoint`` exact and multi-process runs reproducible. ``set_epoch`` gives every epoch fresh crops.
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale


def image_to_array(image, name: str = "image") -> np.ndarray:
    """A PIL image or an H×W×3 uint8 array → H×W×3 uint8 array; anything else is a ``ValueError``."""
    if isinstance(image, PIL.Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[-1] == 3 and image.dtype == np.uint8:
        return image
    desc = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
    raise ValueError(f"{name} must be a PIL image or an H×W×3 uint8 array, got {desc}")


def _check_range(value, name: str) -> tuple[float, float]:
    try:
        low, high = float(value[0]), float(value[1])
    except (TypeError, IndexError, ValueError):
        raise ValueError(f"{name} must be a (min, max) pair of factors, got {value!r}") from None
    if not (0.0 <= low <= high) or len(value) != 2:
        raise ValueError(f"{name} must be a (min, max) pair with 0 <= min <= max, got {value!r}")
    return low, high


def _gray(image: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(_GRAY, dtype=image.dtype).view(3, 1, 1)
    return (image * weights).sum(dim=0, keepdim=True)


def adjust_brightness(image: torch.Tensor, factor: float) -> torch.Tensor:
    return (image * factor).clamp(0.0, 1.0)


def adjust_contrast(image: torch.Tensor, factor: float) -> torch.Tensor:
    mean = _gray(image).mean()
    return (factor * image + (1.0 - factor) * mean).clamp(0.0, 1.0)


def adjust_saturation(image: torch.Tensor, factor: float) -> torch.Tensor:
    return (factor * image + (1.0 - factor) * _gray(image)).clamp(0.0, 1.0)


class CroCoPairTransform:
    """Independent random crops + independent colour jitter + ImageNet normalisation for an image pair.

    ``__call__(image_1, image_2, index)`` takes two PIL images or H×W×3 uint8 arrays and returns
    ``{"pixel_values": 3×h×w float32, "pixel_values_2": 3×h×w float32}`` with ``(h, w) = crop_size``.
    Set ``random_crop=False`` / ``color_jitter=False`` for centre crops / no jitter (evaluation)."""

    def __init__(self, crop_size=224, brightness=(0.6, 1.4), contrast=(0.6, 1.4), saturation=(0.6, 1.4),
                 random_crop: bool = True, color_jitter: bool = True, seed: int = 0,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD):
        if isinstance(crop_size, int) and not isinstance(crop_size, bool):
            crop_size = (crop_size, crop_size)
        if (not isinstance(crop_size, (tuple, list)) or len(crop_size) != 2
                or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in crop_size)):
            raise ValueError(f"crop_size must be a positive int or a (height, width) pair, got {crop_size!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.brightness = _check_range(brightness, "brightness")
        self.contrast = _check_range(contrast, "contrast")
        self.saturation = _check_range(saturation, "saturation")
        self.random_crop = random_crop
        self.color_jitter = color_jitter
        self.seed = seed
        self.epoch = 0
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _crop(self, array: np.ndarray, rng: np.random.Generator, name: str) -> np.ndarray:
        height, width = array.shape[:2]
        ch, cw = self.crop_size
        if height < ch or width < cw:
            raise ValueError(f"{name} is {height}x{width}, smaller than the crop size {ch}x{cw}; "
                             "use larger images or a smaller crop_size")
        if self.random_crop:
            top, left = int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1))
        else:
            top, left = (height - ch) // 2, (width - cw) // 2
        return array[top:top + ch, left:left + cw]

    def _jitter(self, image: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        ops = [(adjust_brightness, self.brightness), (adjust_contrast, self.contrast),
               (adjust_saturation, self.saturation)]
        for op_index in rng.permutation(len(ops)):
            fn, (low, high) = ops[int(op_index)]
            image = fn(image, float(rng.uniform(low, high)))
        return image

    def _one(self, image, rng: np.random.Generator, name: str) -> torch.Tensor:
        array = self._crop(image_to_array(image, name), rng, name)
        tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float() / 255.0
        if self.color_jitter:
            tensor = self._jitter(tensor, rng)
        return (tensor - self.mean) / self.std

    def __call__(self, image_1, image_2, index: int = 0) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        return {"pixel_values": self._one(image_1, rng, "image_1"), "pixel_values_2": self._one(image_2, rng, "image_2")}


__all__ = ["CroCoPairTransform", "IMAGENET_MEAN", "IMAGENET_STD", "adjust_brightness", "adjust_contrast",
           "adjust_saturation", "image_to_array"]
