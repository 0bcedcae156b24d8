"""Full-resolution stereo / optical-flow inference at any image size by confidence-weighted tiling.

Reproduces naver/croco ``stereoflow/engine.py:tiled_pred`` (read for behaviour, independently implemented), which is
how the released CroCo-Stereo / CroCo-Flow models are evaluated:

* images smaller than the training crop (``config.crop_size``) are first upscaled (bicubic) so that the crop fits,
  and the prediction is resized back (disparity / flow values rescaled by the size ratio);
* windows of the crop size are laid on a grid with ``1 + ceil((size - crop) / ((1 - overlap) · crop))`` evenly spaced
  (rounded) offsets per axis, identical windows in both images;
* each window's prediction is weighted per pixel by its confidence, ``exp(-β·2·(sigmoid(c/βₛ) - 0.5))`` for
  ``conf_expsigmoid_β_βₛ`` or ``exp(-β·c)`` for ``conf_expbetaβ``, and the weighted predictions are averaged
  (``Σ w·pred / (Σ w + 1e-16)``); the confidence map is the same weighted average of the raw confidences.

Unlike upstream (one forward per window), windows are gathered with one indexing operation and run through the model
``tile_batch_size`` at a time, and their weighted predictions are scattered back with ``index_add_``; nothing loops over
pixels. Differences from upstream, on purpose: the confidence map is resized back to the input size too (upstream
returns it at the upscaled size), the upscale factor is ``max(crop_w / W, crop_h / H)`` (upstream divides both by W:
where the height is the limiting side its upscaled image is still lower than the crop and it stops on an assertion;
everywhere else with the released landscape crops the two factors are equal — checked against upstream ``tiled_pred``
on the fixture weights at 50×100, 30×60 and 200×90 px, max difference 6e-8), and windows without any valid
ground-truth pixel are left out of the mean tile loss (upstream's mean becomes NaN).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from nlv_hf.models.croco.configuration_croco_stereo_flow import parse_tile_conf_mode
from nlv_hf.models.croco.losses_stereo_flow import confidence_loss_terms


@dataclass
class TiledPrediction:
    """prediction: B×C×H×W disparity (C = 1) or flow (C = 2) at the input size. confidence: B×H×W confidence-weighted
    raw confidence. loss: mean loss over windows (only when ``labels`` are given)."""

    prediction: torch.Tensor
    confidence: torch.Tensor | None
    loss: torch.Tensor | None = None


def window_offsets(total: int, window: int, overlap: float) -> list[int]:
    """Start offsets of overlapping windows covering ``total`` (upstream ``_overlapping``)."""
    if total < window:
        raise ValueError(f"cannot tile a side of {total} px with windows of {window} px")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    count = 1 + int(math.ceil((total - window) / ((1.0 - overlap) * window)))
    return np.linspace(0, total - window, count).round().astype(int).tolist()


def _resize_dense(values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of a disparity (1 ch) / flow (2 ch) map with the values rescaled: x by the width ratio, y by the
    height ratio (upstream ``_resize_stereo_or_flow``)."""
    out = F.interpolate(values, size=size, mode="bicubic", align_corners=False)
    scale = torch.tensor([size[1] / values.shape[-1], size[0] / values.shape[-2]][: values.shape[1]],
                         dtype=out.dtype, device=out.device)
    return out * scale.view(1, -1, 1, 1)


def _tile_weights(confidence: torch.Tensor, conf_mode: str) -> torch.Tensor:
    kind, beta, beta_sigmoid = parse_tile_conf_mode(conf_mode)
    if kind == "expsigmoid":
        return torch.exp(-beta * 2 * (torch.sigmoid(confidence / beta_sigmoid) - 0.5))
    return torch.exp(-beta * confidence)


def _check_inputs(pixel_values, pixel_values_2, labels, channels):
    for name, px in (("pixel_values", pixel_values), ("pixel_values_2", pixel_values_2)):
        if not isinstance(px, torch.Tensor) or px.ndim != 4 or px.shape[1] != 3 or not px.is_floating_point():
            shape = tuple(px.shape) if isinstance(px, torch.Tensor) else type(px).__name__
            raise ValueError(f"{name} must be a float (batch, 3, height, width) tensor of normalised pixels, got "
                             f"{shape}")
        if not torch.isfinite(px).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    if pixel_values.shape != pixel_values_2.shape:
        raise ValueError(f"the two images must have the same size, got {tuple(pixel_values.shape)} and "
                         f"{tuple(pixel_values_2.shape)}")
    if labels is not None:
        expected = (pixel_values.shape[0], channels, *pixel_values.shape[-2:])
        if not isinstance(labels, torch.Tensor) or tuple(labels.shape) != expected:
            shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
            raise ValueError(f"labels must have shape {expected} (batch, {channels}, height, width), got {shape}")


@torch.no_grad()
def tiled_prediction(model, pixel_values: torch.Tensor, pixel_values_2: torch.Tensor,
                     labels: torch.Tensor | None = None, overlap: float | None = None, tile_batch_size: int = 4,
                     conf_mode: str | None = None, crop_size: tuple[int, int] | None = None,
                     stage_timer=None) -> TiledPrediction:
    """Predict disparity / flow for normalised images of any size (B×3×H×W) by tiling at ``crop_size``.

    Args:
        model: a ``CroCoForStereoMatching`` / ``CroCoForOpticalFlow`` (or any model with the same config fields whose
            output has ``logits`` = task channels then confidence).
        labels: optional B×C×H×W ground truth (non-finite = invalid) for the mean window loss.
        overlap / conf_mode / crop_size: default to ``config.tile_overlap`` / ``tile_conf_mode`` / ``crop_size``.
        tile_batch_size: windows per forward pass (memory vs speed); each pass sees ``tile_batch_size × B`` crops.
        stage_timer: optional callable ``stage_timer(name)`` returning a context manager, entered around each stage
            ("resize", "windowing", "forward", "blending", "loss"), e.g. to time them (benchmarks/croco_stereo_flow.py).
    """
    stage = stage_timer or (lambda name: contextlib.nullcontext())
    config = model.config
    channels = config.task_channels
    _check_inputs(pixel_values, pixel_values_2, labels, channels)
    if not isinstance(tile_batch_size, int) or tile_batch_size < 1:
        raise ValueError(f"tile_batch_size must be a positive integer, got {tile_batch_size!r}")
    overlap = config.tile_overlap if overlap is None else overlap
    conf_mode = config.tile_conf_mode if conf_mode is None else conf_mode
    parse_tile_conf_mode(conf_mode)
    win_h, win_w = (int(v) for v in (crop_size or config.crop_size))
    batch, _, height, width = pixel_values.shape
    original_size = (height, width)
    img1, img2 = pixel_values, pixel_values_2
    resized = height < win_h or width < win_w
    if resized:
        with stage("resize"):
            factor = max(win_w / width, win_h / height)
            new_size = (max(win_h, round(height * factor)), max(win_w, round(width * factor)))
            img1 = F.interpolate(img1, size=new_size, mode="bicubic", align_corners=False)
            img2 = F.interpolate(img2, size=new_size, mode="bicubic", align_corners=False)
            if labels is not None:
                labels = _resize_dense(labels.float(), new_size)
            height, width = new_size

    with stage("windowing"):
        tiles = [(y, x) for y in window_offsets(height, win_h, overlap)
                 for x in window_offsets(width, win_w, overlap)]
        device = img1.device
        dtype = next(model.parameters()).dtype
        accu_pred = torch.zeros(batch, channels, height * width, device=device)
        accu_weight = torch.full((batch, height * width), 1e-16, device=device)
        accu_conf = torch.zeros(batch, height * width, device=device)
        rows_base = torch.arange(win_h, device=device)
        cols_base = torch.arange(win_w, device=device)
    tile_loss_sum, tile_loss_count = [], []
    for start in range(0, len(tiles), tile_batch_size):
        with stage("windowing"):
            chunk = torch.tensor(tiles[start:start + tile_batch_size], device=device)
            num = chunk.shape[0]
            rows = (chunk[:, 0, None] + rows_base)[:, :, None]  # T×h×1
            cols = (chunk[:, 1, None] + cols_base)[:, None, :]  # T×1×w

            def crops(images):  # B×C×H×W -> (T·B)×C×h×w, window-major
                out = images[:, :, rows, cols]  # B×C×T×h×w
                return out.permute(2, 0, 1, 3, 4).reshape(num * batch, images.shape[1], win_h, win_w)

            crops_1, crops_2 = crops(img1).to(dtype), crops(img2).to(dtype)
        with stage("forward"):
            logits = model(crops_1, crops_2).logits.float()
        with stage("blending"):
            logits = logits.view(num, batch, -1, win_h, win_w)
            pred = logits[:, :, :channels]
            conf = logits[:, :, channels] if config.with_confidence else torch.zeros_like(logits[:, :, 0])
            weight = _tile_weights(conf, conf_mode) if config.with_confidence else torch.ones_like(conf)
            index = (rows * width + cols).reshape(-1)  # T·h·w flat pixel indices

            def scatter(accu, values):  # values T×B×[C×]h×w -> accumulate into B×[C×](H·W)
                values = values.movedim(0, -3) if values.ndim == 5 else values.movedim(0, 1)
                accu.index_add_(-1, index, values.reshape(*accu.shape[:-1], -1))

            scatter(accu_pred, pred * weight[:, :, None])
            scatter(accu_weight, weight)
            scatter(accu_conf, conf * weight)
        if labels is not None:
            with stage("loss"):
                target = crops(labels.float()).view(num * batch, channels, win_h, win_w)
                per_pixel, valid = confidence_loss_terms(
                    pred.reshape(num * batch, channels, win_h, win_w), target,
                    conf.reshape(num * batch, win_h, win_w) if config.with_confidence else None,
                    config.loss_type, config.loss_a, config.loss_b, config.loss_max_gtnorm,
                )
                tile_loss_sum.append(per_pixel.view(num, -1).sum(1))
                tile_loss_count.append(valid.view(num, -1).sum(1))

    with stage("blending"):
        prediction = (accu_pred / accu_weight[:, None]).view(batch, channels, height, width)
        confidence = (accu_conf / accu_weight).view(batch, height, width)
    if resized:
        with stage("resize"):
            prediction = _resize_dense(prediction, original_size)
            confidence = F.interpolate(confidence[:, None], size=original_size, mode="bilinear",
                                       align_corners=False)[:, 0]
    loss = None
    if labels is not None:
        sums, counts = torch.cat(tile_loss_sum), torch.cat(tile_loss_count)
        keep = counts > 0
        loss = (sums[keep] / counts[keep]).mean() if bool(keep.any()) else sums.new_tensor(float("nan"))
    return TiledPrediction(prediction=prediction, confidence=confidence if config.with_confidence else None,
                           loss=loss)


class StereoFlowPipeline:
    """Disparity or optical flow at the full input resolution for two images of any size (and any aspect ratio).

        pipe = StereoFlowPipeline.from_pretrained("path/to/converted-crocostereo")
        out = pipe(left_image, right_image)       # {"disparity": H×W, "confidence": H×W}
        out = flow_pipe(frame1, frame2)           # {"flow": 2×H×W (u, v), "confidence": H×W}

    Images may be PIL images, H×W×3 numpy arrays (uint8, or float in [0, 1]), 3×H×W torch tensors, or equal-length
    lists of same-sized images (then the outputs have a leading batch dimension). ``ground_truth`` (C×H×W or
    B×C×H×W, non-finite = invalid) adds the mean window ``loss``. The model runs on the crop size it was trained at,
    ``tile_batch_size`` windows per forward pass.
    """

    def __init__(self, model, image_processor=None, tile_batch_size: int = 4, overlap: float | None = None):
        from nlv_hf.models.croco.image_processing_croco import CroCoImageProcessor

        config = getattr(model, "config", None)
        if not hasattr(config, "task_channels") or not hasattr(config, "crop_size"):
            raise ValueError(f"StereoFlowPipeline needs a CroCo-Stereo / CroCo-Flow model, got {type(model).__name__}")
        self.model = model.eval()
        # the windows are cut from the full-resolution images: keep the processor's normalisation, never resize
        source = image_processor or CroCoImageProcessor()
        self.image_processor = CroCoImageProcessor(
            do_resize=False, do_center_crop=False, patch_size=1,
            image_mean=list(source.image_mean), image_std=list(source.image_std),
        )
        self.tile_batch_size = tile_batch_size
        self.overlap = overlap
        self.task = model.config.task

    @classmethod
    def from_pretrained(cls, path: str, **kwargs):
        """Load a converted/exported model folder (or Hub id) and its image processor, or an official checkpoint
        (``crocostereo*.pth`` / ``crocoflow*.pth``, path or URL; converted once into the nlv_hf cache)."""
        from transformers import AutoImageProcessor, AutoModel

        import nlv_hf  # noqa: F401  (registers the Auto classes)

        text = str(path)
        if text.endswith((".pth", ".pt")) or text.startswith(("http://", "https://")):
            from nlv_hf.models.croco.convert_croco_stereo_flow_original import load_original
            from nlv_hf.models.croco.modeling_croco_stereo_flow import CroCoForOpticalFlow, CroCoForStereoMatching

            name = text.rsplit("/", 1)[-1].lower()
            known = {"crocostereo": CroCoForStereoMatching, "crocoflow": CroCoForOpticalFlow}
            model_cls = next((c for prefix, c in known.items() if name.startswith(prefix)), None)
            # official names tell the task (cached conversion); any other file: the converter reads args.task
            model = model_cls.from_original(text) if model_cls is not None else load_original(text)
            return cls(model, None, **kwargs)
        model = AutoModel.from_pretrained(path)
        try:
            processor = AutoImageProcessor.from_pretrained(path)
        except (OSError, ValueError):
            processor = None
        return cls(model, processor, **kwargs)

    def preprocess(self, image_1, image_2) -> tuple[torch.Tensor, torch.Tensor, bool]:
        single = not isinstance(image_1, (list, tuple))
        batch = self.image_processor(image_1, image_2, return_tensors="pt")
        return batch["pixel_values"], batch["pixel_values_2"], single

    def __call__(self, image_1, image_2, ground_truth=None, overlap: float | None = None,
                 tile_batch_size: int | None = None) -> dict:
        pixel_values, pixel_values_2, single = self.preprocess(image_1, image_2)
        device = next(self.model.parameters()).device
        labels = None
        if ground_truth is not None:
            labels = torch.as_tensor(ground_truth, dtype=torch.float32)
            if labels.ndim == 2 and self.model.config.task_channels == 1:
                labels = labels[None]
            if labels.ndim == 3:
                labels = labels[None]
        result = tiled_prediction(
            self.model, pixel_values.to(device), pixel_values_2.to(device),
            labels=None if labels is None else labels.to(device),
            overlap=self.overlap if overlap is None else overlap,
            tile_batch_size=tile_batch_size or self.tile_batch_size,
        )
        prediction = result.prediction.cpu()
        key = "disparity" if self.task == "stereo" else "flow"
        out = {key: prediction[:, 0] if self.task == "stereo" else prediction,
               "confidence": None if result.confidence is None else result.confidence.cpu()}
        if single:
            out = {k: None if v is None else v[0] for k, v in out.items()}
        if result.loss is not None:
            out["loss"] = result.loss
        return out


__all__ = ["StereoFlowPipeline", "TiledPrediction", "tiled_prediction", "window_offsets"]
