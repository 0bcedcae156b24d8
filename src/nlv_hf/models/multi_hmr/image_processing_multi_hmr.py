"""Image processor and post-processing for Multi-HMR (PIL backend; no torchvision).

Pre-processing follows the upstream demo: the image is resized to fit the model's square input keeping its aspect
ratio (``ImageOps.contain``, bicubic), zero-padded to a square with the image centred (``ImageOps.pad``), scaled to
[0, 1] and normalised with the ImageNet mean/std. The camera intrinsics of each *original* image can be given (they
are mapped to the model input); otherwise the upstream default camera is used: a field of view of 60 degrees over the
padded square with the principal point at its centre.

:meth:`MultiHMRImageProcessor.post_process_mesh_recovery` turns model outputs into one list of people per image, with
2D quantities mapped back to the original image pixels (the pad and resize undone).
"""

from __future__ import annotations

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch
from transformers.image_processing_backends import PilBackend
from transformers.image_processing_utils import BatchFeature
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling
from transformers.processing_utils import ImagesKwargs

from nlv_hf.image_inputs import to_rgb_pil as _to_pil


class MultiHMRImageProcessorKwargs(ImagesKwargs, total=False):
    image_size: int
    default_fov: float


def _as_list(images) -> list:
    if isinstance(images, (list, tuple)):
        if len(images) == 0:
            raise ValueError("images is an empty list; give at least one image")
        return list(images)
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.ndim == 4:
        return list(images)
    return [images]


def letterbox_geometry(height: int, width: int, size: int) -> tuple[float, float, int, int, int, int]:
    """How ``ImageOps.contain`` + ``ImageOps.pad`` map an ``height x width`` image into a ``size`` square:
    (scale_x, scale_y, offset_x, offset_y, new_width, new_height); input pixel = original * scale + offset."""
    if width == height:
        new_w = new_h = size
    elif width > height:
        new_w, new_h = size, round(height / width * size)
    else:
        new_w, new_h = round(width / height * size), size
    off_x, off_y = round((size - new_w) * 0.5), round((size - new_h) * 0.5)
    return new_w / width, new_h / height, off_x, off_y, new_w, new_h


class MultiHMRImageProcessor(PilBackend):
    r"""Letterboxes images to the Multi-HMR input square and builds the camera intrinsics.

    Returns a ``BatchFeature`` with ``pixel_values`` (B, 3, S, S), ``intrinsics`` (B, 3, 3) in input pixels and
    ``original_sizes`` (B, 2) as (height, width), ready for ``model(**inputs)`` and for
    :meth:`post_process_mesh_recovery` (``target_sizes=inputs["original_sizes"]``).
    """

    valid_kwargs = MultiHMRImageProcessorKwargs
    model_input_names = ["pixel_values", "intrinsics"]
    resample = PILImageResampling.BICUBIC
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    do_rescale = True
    do_normalize = True
    image_size = 896
    default_fov = 60.0

    def __call__(self, images, intrinsics=None, fov: float | None = None, return_tensors="pt",
                 **kwargs) -> BatchFeature:
        """``images``: one image or a list. ``intrinsics``: optional (3, 3) camera matrix per image, in *original*
        image pixels (a (B, 3, 3) tensor/array or a list); otherwise ``fov`` (degrees, default ``default_fov``) over
        the padded square, principal point at its centre (upstream demo)."""
        size = int(kwargs.pop("image_size", self.image_size))
        pils = [_to_pil(im, f"images[{i}]") for i, im in enumerate(_as_list(images))]
        mean = np.asarray(self.image_mean, dtype=np.float32).reshape(3, 1, 1)
        std = np.asarray(self.image_std, dtype=np.float32).reshape(3, 1, 1)
        pixels, cameras, sizes = [], [], []
        given = self._check_intrinsics(intrinsics, len(pils))
        fov = self.default_fov if fov is None else fov
        if not (isinstance(fov, (int, float)) and 0 < fov < 180):
            raise ValueError(f"fov must be in (0, 180) degrees, got {fov!r}")
        focal = size / (2 * np.tan(np.radians(fov) / 2))
        for i, pil in enumerate(pils):
            sx, sy, ox, oy, new_w, new_h = letterbox_geometry(pil.height, pil.width, size)
            # exactly the upstream demo: contain (bicubic) then centre zero-padding
            canvas = PIL.ImageOps.pad(PIL.ImageOps.contain(pil, (size, size)), (size, size))
            array = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1) / 255.0
            pixels.append((array - mean) / std)
            if given is not None:
                k = given[i].astype(np.float64).copy()
                k[0] *= sx
                k[1] *= sy
                k[0, 2] += ox
                k[1, 2] += oy
            else:
                k = np.array([[focal, 0, size // 2], [0, focal, size // 2], [0, 0, 1]], dtype=np.float64)
            cameras.append(k.astype(np.float32))
            sizes.append((pil.height, pil.width))
        data = {"pixel_values": np.stack(pixels).astype(np.float32), "intrinsics": np.stack(cameras),
                "original_sizes": np.asarray(sizes, dtype=np.int64)}
        return BatchFeature(data=data, tensor_type=return_tensors)

    @staticmethod
    def _check_intrinsics(intrinsics, count: int):
        if intrinsics is None:
            return None
        if isinstance(intrinsics, torch.Tensor):
            intrinsics = intrinsics.detach().cpu().numpy()
        if isinstance(intrinsics, (list, tuple)):
            intrinsics = np.stack([np.asarray(k.detach().cpu() if isinstance(k, torch.Tensor) else k, dtype=np.float64)
                                   for k in intrinsics])
        intrinsics = np.asarray(intrinsics, dtype=np.float64)
        if intrinsics.shape == (3, 3):
            intrinsics = np.broadcast_to(intrinsics, (count, 3, 3))
        if intrinsics.shape != (count, 3, 3):
            raise ValueError(f"intrinsics must be one (3, 3) matrix or one per image ({count}, 3, 3), got "
                             f"{intrinsics.shape}")
        if not np.isfinite(intrinsics).all() or (intrinsics[:, 0, 0] <= 0).any() or (intrinsics[:, 1, 1] <= 0).any():
            raise ValueError("intrinsics must be finite with positive focal lengths K[0,0] and K[1,1]")
        return intrinsics

    # ------------------------------------------------------------------------------------------ post-processing
    def post_process_mesh_recovery(self, outputs, target_sizes=None, threshold: float | None = None,
                                   image_size: int | None = None) -> list[list[dict]]:
        """Split a Multi-HMR output into people per image.

        Args:
            outputs: a :class:`MultiHMRMeshRecoveryOutput` (or a :class:`MultiHMRModelOutput`, then without meshes).
            target_sizes: (B, 2) original (height, width) per image (``inputs["original_sizes"]``); 2D results are
                mapped back to those pixels. ``None`` keeps model-input pixels.
            threshold: keep only people whose detection score is at least this (on top of the model's own threshold).

        Returns, per image, a list of dicts (Anny: closest person first, as upstream; SMPL-X: detection order):
        ``score`` (float), ``center_2d`` (2,), ``params`` (SMPL-X: ``rotvec`` (53, 3), ``shape``, ``expression``;
        Anny: ``rotvec`` (163, 3), ``phenotypes`` (11,)), ``translation`` (3,) camera-space metres of the centre
        joint, and with meshes ``vertices`` (V, 3), ``joints_3d`` (J, 3) in camera space (metres), ``joints_2d``
        (J, 2) and ``vertices_2d`` (V, 2) in image pixels.
        """
        size = int(image_size or self.image_size)
        detections = outputs.detections
        batch = outputs.scores.shape[0]
        if target_sizes is not None:
            target_sizes = torch.as_tensor(target_sizes).reshape(-1, 2)
            if target_sizes.shape[0] != batch:
                raise ValueError(f"target_sizes has {target_sizes.shape[0]} entries for a batch of {batch} images")
        is_anny = outputs.expression is None
        results: list[list[dict]] = [[] for _ in range(batch)]
        if detections.shape[0] == 0:
            return results
        keep = torch.ones(detections.shape[0], dtype=torch.bool, device=detections.device)
        if threshold is not None:
            keep = outputs.detection_scores >= threshold
        # per-image letterbox transforms, gathered per person (vectorised over people)
        transforms = torch.tensor([[1.0, 1.0, 0.0, 0.0]] * batch, dtype=torch.float32)
        if target_sizes is not None:
            transforms = torch.tensor([letterbox_geometry(int(h), int(w), size)[:4] for h, w in target_sizes.tolist()],
                                      dtype=torch.float32)
        per = transforms.to(detections.device)[detections[:, 0]]
        scale, offset = per[:, None, :2], per[:, None, 2:]

        def to_image(points):
            return ((points.float() - offset) / scale).to(points.dtype)

        center_2d = to_image(outputs.centers_2d[:, None])[:, 0]
        has_mesh = getattr(outputs, "vertices", None) is not None
        joints_2d = to_image(outputs.joints_2d) if has_mesh else None
        vertices_2d = to_image(outputs.vertices_2d) if has_mesh else None
        order = torch.arange(detections.shape[0], device=detections.device)
        if is_anny:  # upstream returns Anny people sorted by depth, closest first
            order = order[torch.argsort(outputs.translation[:, 2], stable=True)]
        for p in order[keep[order]].tolist():
            params = ({"rotvec": outputs.rotvec[p], "phenotypes": outputs.betas[p]} if is_anny else
                      {"rotvec": outputs.rotvec[p], "shape": outputs.betas[p], "expression": outputs.expression[p]})
            person = {"score": float(outputs.detection_scores[p]), "center_2d": center_2d[p], "params": params,
                      "translation": outputs.translation[p]}
            if has_mesh:
                person.update(vertices=outputs.vertices[p], joints_3d=outputs.joints_3d[p], joints_2d=joints_2d[p],
                              vertices_2d=vertices_2d[p])
            results[int(detections[p, 0])].append(person)
        return results


__all__ = ["MultiHMRImageProcessor", "letterbox_geometry"]
