"""Image processor for CroCo image pairs (PIL backend; no torchvision)."""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling
from transformers.processing_utils import ImagesKwargs

from nlv_hf.image_inputs import to_rgb_pil as _to_pil


class CroCoImageProcessorKwargs(ImagesKwargs, total=False):
    patch_size: int
    require_same_size: bool


def _as_list(images, name: str) -> list:
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError(f"{name} is an empty list; give at least one image")
        return list(images)
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        return list(images)
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images)
    return [images]


class CroCoImageProcessor(PilBackend):
    r"""Turns a pair of images (or two lists of images) into ``pixel_values`` and ``pixel_values_2``.

    Default pipeline: resize the shorter side to 224 (bicubic), centre-crop 224×224, scale to [0, 1] and normalise
    with the ImageNet mean/std (as upstream's ``ToTensor + Normalize``). Turn off ``do_resize``/``do_center_crop``
    to keep native sizes; the resulting height and width must then be multiples of ``patch_size``.
    """

    valid_kwargs = CroCoImageProcessorKwargs
    model_input_names = ["pixel_values", "pixel_values_2"]
    resample = PILImageResampling.BICUBIC
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"shortest_edge": 224}
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = False
    patch_size = 16
    require_same_size = True

    def __call__(self, images, images_2=None, return_tensors="pt", **kwargs) -> BatchFeature:
        """``images``: first image(s); ``images_2``: second image(s), the same number. Returns a ``BatchFeature``
        with ``pixel_values`` (and ``pixel_values_2``) of shape B×3×H×W."""
        first = [_to_pil(im, f"images[{i}]") for i, im in enumerate(_as_list(images, "images"))]
        data = {"pixel_values": self._process(first, "images", return_tensors, kwargs)}
        if images_2 is not None:
            second = [_to_pil(im, f"images_2[{i}]") for i, im in enumerate(_as_list(images_2, "images_2"))]
            if len(second) != len(first):
                raise ValueError(f"got {len(first)} first images but {len(second)} second images; "
                                 "images and images_2 must pair up one to one")
            data["pixel_values_2"] = self._process(second, "images_2", return_tensors, kwargs)
            require_same = kwargs.get("require_same_size", self.require_same_size)
            shape_1, shape_2 = data["pixel_values"][0].shape, data["pixel_values_2"][0].shape
            if require_same and tuple(shape_1) != tuple(shape_2):
                raise ValueError(f"the two images of a pair have different sizes after processing ({shape_1[-2:]} "
                                 f"vs {shape_2[-2:]}); enable resizing/cropping or pass require_same_size=False")
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _process(self, images: list, name: str, return_tensors, kwargs):
        kwargs = {k: v for k, v in kwargs.items() if k not in ("patch_size", "require_same_size")}
        processed = super().__call__(images, return_tensors=None, **kwargs)["pixel_values"]
        patch = self.patch_size
        sizes = {tuple(np.asarray(p).shape[-2:]) for p in processed}
        if len(sizes) > 1:
            raise ValueError(f"{name} have different sizes after processing {sorted(sizes)}; images batched together "
                             "must share one size (enable do_resize/do_center_crop)")
        (height, width), = sizes
        if height % patch or width % patch:
            raise ValueError(f"{name} are {height}x{width} after processing, which is not a multiple of the patch "
                             f"size {patch}; resize/crop to a multiple of {patch}")
        stacked = np.stack([np.asarray(p, dtype=np.float32) for p in processed])
        return torch.from_numpy(stacked) if return_tensors == "pt" else stacked

    def postprocess_images(self, pixel_values: torch.Tensor) -> list[PIL.Image.Image]:
        """Undo the normalisation of B×3×H×W pixel values (e.g. a CroCo reconstruction) and return PIL images."""
        mean = torch.tensor(self.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(self.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        images = (pixel_values.detach().float().cpu() * std + mean).clamp(0, 1)
        arrays = (images.permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
        return [PIL.Image.fromarray(a, "RGB") for a in arrays]


__all__ = ["CroCoImageProcessor"]
