"""Image → people → overlay / GLB / JSON with Multi-HMR, in one call.

:class:`MeshRecoveryPipeline` chains the existing pieces: :class:`~nlv_hf.models.multi_hmr.MultiHMRImageProcessor`
(letterbox + camera), :class:`~nlv_hf.models.multi_hmr.MultiHMRForMeshRecovery` (backbone, head, body model),
``post_process_mesh_recovery`` (people in original-image pixels), and returns a :class:`MeshRecovery` that renders
the overlay (:func:`nlv_hf.body.render.render_overlay`), writes the GLB scene (:func:`nlv_hf.body.mesh_io.export_glb`)
and the parameters JSON (:func:`nlv_hf.body.mesh_io.people_to_json`)::

    pipe = MeshRecoveryPipeline.from_pretrained("converted/multi-hmr-672-l")
    result = pipe(PIL.Image.open("people.jpg"), threshold=0.3)
    PIL.Image.fromarray(result.overlay()).save("overlay.png")
    result.to_glb("people.glb"); result.to_json("people.json")

``detections=[(row, col), ...]`` forces people at those patches of the heatmap (teacher forcing) instead of
detecting them, e.g. to benchmark a fixed number of people with random weights.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import PIL.Image
import torch

from nlv_hf.body.mesh_io import export_glb, people_to_json
from nlv_hf.body.render import render_overlay
from nlv_hf.models.multi_hmr import MultiHMRForMeshRecovery
from nlv_hf.image_inputs import to_rgb_pil
from nlv_hf.models.multi_hmr.image_processing_multi_hmr import MultiHMRImageProcessor, letterbox_geometry


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class MeshRecovery:
    """The people Multi-HMR found in one image, with what is needed to show and save them.

    ``people``: ``post_process_mesh_recovery`` dicts (2D in original-image pixels, 3D in camera metres).
    ``intrinsics``: (3, 3) camera of the *original* image (pixels). ``fov``: horizontal field of view over the
    model's square input, degrees. ``timings``: seconds per stage (``preprocess``, ``model``, ``postprocess``).
    """

    image: PIL.Image.Image
    people: list[dict]
    faces: torch.Tensor
    intrinsics: torch.Tensor
    fov: float
    body_model: str
    timings: dict[str, float] = field(default_factory=dict)

    def overlay(self, alpha: float = 0.8) -> np.ndarray:
        """(H, W, 3) uint8: the meshes drawn over the image, one colour per person (the image itself if nobody)."""
        if not self.people:
            return np.asarray(self.image.convert("RGB")).copy()
        return render_overlay(self.image, self.people, self.faces, alpha=alpha)

    def metadata(self) -> dict[str, Any]:
        return {"image_size": [self.image.height, self.image.width], "K": self.intrinsics, "fov": self.fov,
                "body_model": self.body_model, "num_people": len(self.people)}

    def to_json(self, path: str | os.PathLike | None = None, include_vertices: bool = False,
                indent: int | None = None) -> str:
        """The people's parameters, translations, joints and scores (``nlv_hf.people`` JSON), with the camera."""
        return people_to_json(self.people, path, include_vertices=include_vertices, metadata=self.metadata(),
                              indent=indent)

    def to_glb(self, path: str | os.PathLike) -> os.PathLike:
        """One binary glTF scene, one node per person (OpenGL axes, as 3D viewers expect). ``ValueError`` when
        nobody was found."""
        return export_glb(self.people, self.faces, path)


class MeshRecoveryPipeline:
    """Multi-HMR inference on single images: image → :class:`MeshRecovery`.

    Args:
        model: a :class:`MultiHMRForMeshRecovery` (put on the device and dtype you want; body models run in
            float32 whatever the dtype).
        image_processor: its :class:`MultiHMRImageProcessor`; by default one at the model's resolution.
    """

    def __init__(self, model, image_processor=None):
        if not isinstance(model, MultiHMRForMeshRecovery):
            raise ValueError(f"model must be a MultiHMRForMeshRecovery, got {type(model).__name__}")
        self.model = model.eval()
        if image_processor is None:
            image_processor = MultiHMRImageProcessor(image_size=model.config.image_size,
                                                     default_fov=model.config.default_fov)
        if int(image_processor.image_size) != model.config.image_size:
            raise ValueError(f"the image processor works at {image_processor.image_size} px but the model at "
                             f"{model.config.image_size} px")
        self.image_processor = image_processor

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, smplx_path: str | None = None, device: str | None = None,
                        dtype: torch.dtype | None = None, **kwargs):
        """Load a converted folder or Hub id (with its processor config if present), or an official ``.pt``
        checkpoint (converted on the fly and cached)."""
        path = str(path)
        if path.endswith((".pt", ".pth")):
            model = MultiHMRForMeshRecovery.from_original(path, **kwargs)
            if smplx_path:
                model._smplx_path = smplx_path
            processor = None
        else:
            model = MultiHMRForMeshRecovery.from_pretrained(path, smplx_path=smplx_path, **kwargs)
            try:
                processor = MultiHMRImageProcessor.from_pretrained(path)
            except (OSError, ValueError):
                processor = None
        model = model.to(device=device or "cpu", dtype=dtype)
        return cls(model, processor)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _forced(self, detections) -> torch.Tensor:
        grid = self.model.config.grid_size
        rows = torch.as_tensor(detections, dtype=torch.long).reshape(-1, 2) if len(detections) else \
            torch.zeros(0, 2, dtype=torch.long)
        if rows.numel() and (rows.min() < 0 or rows.max() >= grid):
            raise ValueError(f"detections are (row, column) patches of the {grid}x{grid} heatmap, got {rows.tolist()}")
        # one image: image index 0, row-major order like the detector
        rows = rows[torch.argsort(rows[:, 0] * grid + rows[:, 1], stable=True)]
        return torch.cat([torch.zeros(rows.shape[0], 1, dtype=torch.long), rows], dim=1).to(self.device)

    @torch.inference_mode()
    def __call__(self, image, threshold: float | None = None, nms_kernel_size: int | None = None,
                 fov: float | None = None, intrinsics=None, detections=None) -> MeshRecovery:
        """Recover the people of one image.

        Args:
            image: PIL image, (H, W, 3) array or (3, H, W) tensor (see the image processor).
            threshold: detection threshold in [0, 1] (default: the model config's).
            nms_kernel_size: odd max-pool size of the detector's non-maximum suppression (default: config's).
            fov: field of view (degrees) over the padded square when ``intrinsics`` is not given (SMPL-X models;
                Anny models regress their camera when neither is given).
            intrinsics: (3, 3) camera of the original image, in its pixels.
            detections: optional list of (row, column) heatmap patches to use as people instead of detecting.
        """
        if threshold is not None and not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
            raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
        if nms_kernel_size is not None and (int(nms_kernel_size) != nms_kernel_size or nms_kernel_size < 1
                                            or nms_kernel_size % 2 == 0):
            raise ValueError(f"nms_kernel_size must be an odd positive integer, got {nms_kernel_size!r}")
        device = self.device
        config = self.model.config
        timings = {}
        t0 = time.perf_counter()
        pil = to_rgb_pil(image, "image")
        use_given_camera = intrinsics is not None or fov is not None or config.body_model == "smplx"
        inputs = self.image_processor(pil, intrinsics=intrinsics, fov=fov)
        pixel_values = inputs["pixel_values"].to(device=device, dtype=self.model.dtype)
        camera = inputs["intrinsics"].to(device) if use_given_camera else None
        forced = self._forced(detections) if detections is not None else None
        _sync(device)
        t1 = time.perf_counter()
        outputs = self.model(pixel_values, intrinsics=camera, detections=forced, detection_threshold=threshold,
                             nms_kernel_size=None if nms_kernel_size is None else int(nms_kernel_size))
        _sync(device)
        t2 = time.perf_counter()
        people = self.image_processor.post_process_mesh_recovery(outputs, target_sizes=inputs["original_sizes"])[0]
        people = [{k: _to_cpu(v) for k, v in person.items()} for person in people]
        faces = self.model.faces.cpu() if people else torch.zeros(0, 3, dtype=torch.long)
        k_input = outputs.intrinsics[0].float().cpu()
        t3 = time.perf_counter()
        timings.update(preprocess=t1 - t0, model=t2 - t1, postprocess=t3 - t2)
        return MeshRecovery(image=pil, people=people, faces=faces, intrinsics=_to_original_pixels(k_input, pil, config),
                            fov=_fov_degrees(k_input, config.image_size), body_model=config.body_model,
                            timings=timings)


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu() if value.is_floating_point() else value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    return value


def _to_original_pixels(k_input: torch.Tensor, image: PIL.Image.Image, config) -> torch.Tensor:
    """Camera of the model input (letterboxed square) → camera of the original image: undo scale and padding."""
    sx, sy, ox, oy, _, _ = letterbox_geometry(image.height, image.width, config.image_size)
    inverse = torch.tensor([[1 / sx, 0.0, -ox / sx], [0.0, 1 / sy, -oy / sy], [0.0, 0.0, 1.0]])
    return inverse @ k_input


def _fov_degrees(k_input: torch.Tensor, size: int) -> float:
    return float(2 * torch.rad2deg(torch.atan(torch.tensor(size / 2.0) / k_input[0, 0])))


__all__ = ["MeshRecovery", "MeshRecoveryPipeline"]
