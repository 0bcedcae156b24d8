"""Cross-view completion for display: hide patches of a first view, reconstruct them from the rest and a second view.

This is the logic behind the CroCo Space (``spaces/croco``) and upstream's interactive demo, kept in the library so
that it is tested and reusable: load a pretraining model from any converted folder (or an official ``.pth``), draw a
seeded mask at a chosen ratio, run the model, and turn the result into pictures (masked input, reconstruction,
original, second view, and all of them side by side).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from .image_processing_croco import CroCoImageProcessor
from .modeling_croco import CroCoForPretraining

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
MASK_FILL_RGB = (64, 64, 64)  # colour of hidden patches in the "masked" picture


# ------------------------------------------------------------------------------------------------------- loading
@dataclass
class LoadedCroCo:
    """A pretraining model, its processor, and one line saying which weights these are (shown by the demos)."""

    model: CroCoForPretraining
    processor: CroCoImageProcessor
    description: str


def describe_croco_config(config) -> str:
    """Short human description, e.g. ``CroCo v2 (RoPE100), encoder 768-d × 12, decoder 512-d × 8, 224×224``."""
    version = "CroCo v1 (cosine)" if config.pos_embed == "cosine" else f"CroCo v2 ({config.pos_embed})"
    h, w = config.image_size
    return (f"{version}, encoder {config.encoder_hidden_size}-d × {config.encoder_num_hidden_layers}, decoder "
            f"{config.decoder_hidden_size}-d × {config.decoder_num_hidden_layers}, patch {config.patch_size}, "
            f"trained at {h}×{w}")


def load_croco_for_completion(checkpoint: str | os.PathLike, device: str | torch.device = "cpu",
                              dtype: torch.dtype = torch.float32) -> LoadedCroCo:
    """Load ``CroCoForPretraining`` for completion from a converted folder (``save_pretrained`` / ``nlv-hf
    convert`` output, with its pixel head), an official checkpoint file (``.pth``, converted on the fly and
    cached) or a Hub id holding an exported folder. The processor comes from the folder's ``preprocessor_config.json`` when present, otherwise it is built
    for the model's training size."""
    path = Path(checkpoint)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ValueError(f"{path} is not a converted model folder (no config.json); give a folder written by "
                             "save_pretrained / `nlv-hf convert croco`, or an official CroCo .pth file")
        model, info = CroCoForPretraining.from_pretrained(path, output_loading_info=True)
        missing = [k for k in info.get("missing_keys", []) if k]
        if missing:
            raise ValueError(f"{path} has no weights for {sorted(missing)[:4]}: it is not a CroCo pretraining model "
                             "with its pixel-prediction head (a CroCoModel folder cannot reconstruct images)")
        if (path / "preprocessor_config.json").is_file():
            processor = CroCoImageProcessor.from_pretrained(path)
        else:
            processor = _processor_for(model.config)
    elif path.is_file():
        model = CroCoForPretraining.from_original(str(path))
        processor = _processor_for(model.config)
    elif _HUB_ID.match(str(checkpoint)):
        try:
            model = CroCoForPretraining.from_pretrained(str(checkpoint))
            processor = CroCoImageProcessor.from_pretrained(str(checkpoint))
        except OSError as err:
            raise ValueError(f"checkpoint {checkpoint!r} is neither a local folder or file nor a reachable Hub "
                             f"model ({err})") from err
    else:
        raise ValueError(f"checkpoint not found: {path}; give a converted model folder, an official CroCo .pth "
                         "or a Hub id (org/name)")
    model = model.to(device=device, dtype=dtype).eval()
    params = sum(p.numel() for p in model.parameters())
    description = f"{describe_croco_config(model.config)}, {params / 1e6:.1f} M parameters, from `{path}`"
    return LoadedCroCo(model=model, processor=processor, description=description)


def _processor_for(config) -> CroCoImageProcessor:
    h, w = config.image_size
    return CroCoImageProcessor(patch_size=config.patch_size, size={"shortest_edge": min(h, w)},
                               crop_size={"height": h, "width": w})


# ----------------------------------------------------------------------------------------------------- pictures
def hide_patches(image: PIL.Image.Image, bool_masked_pos: torch.Tensor, patch_size: int,
                 fill_rgb: tuple[int, int, int] = MASK_FILL_RGB) -> PIL.Image.Image:
    """Paint the hidden patches (``bool_masked_pos``: N bools in raster order over the patch grid) of ``image``
    with ``fill_rgb``. The image size must be the patch grid times ``patch_size``."""
    array = np.asarray(image.convert("RGB")).copy()
    height, width = array.shape[:2]
    if height % patch_size or width % patch_size:
        raise ValueError(f"image size {height}x{width} is not a multiple of the patch size {patch_size}")
    grid = (height // patch_size, width // patch_size)
    mask = torch.as_tensor(bool_masked_pos).reshape(-1)
    if mask.numel() != grid[0] * grid[1]:
        raise ValueError(f"bool_masked_pos has {mask.numel()} entries but the image has a {grid[0]}x{grid[1]} "
                         "patch grid")
    pixel_mask = mask.reshape(grid).numpy().repeat(patch_size, axis=0).repeat(patch_size, axis=1)
    array[pixel_mask] = np.asarray(fill_rgb, dtype=np.uint8)
    return PIL.Image.fromarray(array, "RGB")


def side_by_side(images: list[PIL.Image.Image], gap: int = 4,
                 background: tuple[int, int, int] = (255, 255, 255)) -> PIL.Image.Image:
    """Place images left to right, ``gap`` pixels apart, vertically centred, on ``background``."""
    if not images:
        raise ValueError("side_by_side needs at least one image")
    width = sum(im.width for im in images) + gap * (len(images) - 1)
    height = max(im.height for im in images)
    canvas = PIL.Image.new("RGB", (width, height), background)
    x = 0
    for im in images:
        canvas.paste(im.convert("RGB"), (x, (height - im.height) // 2))
        x += im.width + gap
    return canvas


# --------------------------------------------------------------------------------------------------- completion
@dataclass
class CrossViewCompletion:
    """Result of :func:`complete_cross_view`; every picture has the processed size of the first view."""

    masked: PIL.Image.Image          # first view with the hidden patches painted over
    reconstruction: PIL.Image.Image  # hidden patches predicted by the model, visible ones pasted from the input
    original: PIL.Image.Image        # first view as the model saw it (after resize/crop)
    reference: PIL.Image.Image       # second view as the model saw it
    bool_masked_pos: torch.Tensor = field(repr=False)  # N bools, True = hidden
    loss: float = 0.0                # masked (normalised-pixel) MSE of this reconstruction

    @property
    def mask_fraction(self) -> float:
        return float(self.bool_masked_pos.float().mean())

    def side_by_side(self, gap: int = 4, min_height: int | None = None) -> PIL.Image.Image:
        """Masked first view | reconstruction | original first view | second view, as upstream's demo output.
        With ``min_height`` small models' pictures are enlarged by an integer factor (nearest neighbour, so patches
        stay sharp) until they are at least that tall."""
        panels = [self.masked, self.reconstruction, self.original, self.reference]
        if min_height is not None and min_height > self.original.height:
            factor = -(-min_height // self.original.height)
            panels = [im.resize((im.width * factor, im.height * factor), PIL.Image.Resampling.NEAREST)
                      for im in panels]
        return side_by_side(panels, gap=gap)


@torch.no_grad()
def complete_cross_view(model: CroCoForPretraining, processor: CroCoImageProcessor, image, image_2,
                        mask_ratio: float | None = None, seed: int = 0) -> CrossViewCompletion:
    """Hide ``mask_ratio`` of the patches of ``image`` (``int(mask_ratio · N)`` of them, drawn with ``seed`` by
    upstream's ``RandomMask`` rule) and reconstruct them from the visible ones and ``image_2``.

    ``image``/``image_2``: anything :class:`CroCoImageProcessor` accepts (PIL, H×W×3 array, 3×H×W tensor).
    ``mask_ratio`` defaults to the model's (0.9 for the official checkpoints); it must be in [0, 1)."""
    ratio = model.config.mask_ratio if mask_ratio is None else mask_ratio
    if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not 0.0 <= float(ratio) < 1.0:
        raise ValueError(f"mask_ratio must be a number in [0, 1), got {mask_ratio!r}")
    if image is None or image_2 is None:
        raise ValueError("two images are needed: the view to complete and the second view of the same scene")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer, float)) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    batch = processor(image, image_2, return_tensors="pt")
    param = next(model.parameters())
    pixel_values = batch["pixel_values"].to(device=param.device, dtype=param.dtype)
    pixel_values_2 = batch["pixel_values_2"].to(device=param.device, dtype=param.dtype)
    p = model.config.patch_size
    num_patches = (pixel_values.shape[-2] // p) * (pixel_values.shape[-1] // p)
    generator = torch.Generator().manual_seed(int(seed))
    mask = model.croco.random_mask(1, num_patches, generator=generator, mask_ratio=float(ratio))
    mask = mask.to(param.device)
    out = model(pixel_values=pixel_values, pixel_values_2=pixel_values_2, bool_masked_pos=mask)
    recon = model.reconstruct(out.logits, pixel_values, mask)
    recon_image, original, reference = processor.postprocess_images(
        torch.cat([recon.float(), pixel_values.float(), pixel_values_2.float()], dim=0))
    loss = float(out.loss) if bool(mask.any()) else 0.0
    return CrossViewCompletion(
        masked=hide_patches(original, mask[0].cpu(), p),
        reconstruction=recon_image,
        original=original,
        reference=reference,
        bool_masked_pos=mask[0].cpu(),
        loss=loss,
    )


__all__ = ["CrossViewCompletion", "LoadedCroCo", "complete_cross_view", "describe_croco_config", "hide_patches",
           "load_croco_for_completion", "side_by_side"]
