"""Run any per-frame callable over a video: a video file, a folder of images, or a sequence of frames.

Kept generic on purpose: mesh recovery, stereo or retrieval all become video tools with
``process_frames(frames, fn)``. Folders of images and in-memory frames need nothing beyond Pillow; video files
(``.mp4``, ``.gif``, …) are read and written with ``imageio`` when it is installed (``.mp4`` also needs an
imageio video plugin such as ``imageio-ffmpeg`` or ``av``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "iter_frames", "process_frames", "write_frames"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def _imageio():
    try:
        import imageio.v3 as iio
    except ImportError:
        return None
    return iio


def _to_uint8_rgb(frame: Any, where: str) -> np.ndarray:
    from PIL import Image

    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("RGB"))
    try:
        import torch

        if isinstance(frame, torch.Tensor):
            frame = frame.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"{where}: expected a PIL image or an (H, W, 3) array, got {type(frame).__name__}")
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    if frame.ndim != 3 or frame.shape[-1] not in (3, 4):
        raise ValueError(f"{where}: expected shape (H, W, 3) (RGB, channels last), got {frame.shape}")
    frame = frame[..., :3]
    if frame.dtype == np.uint8:
        return frame
    if np.issubdtype(frame.dtype, np.floating):
        if not np.isfinite(frame).all() or frame.min() < 0 or frame.max() > 1:
            raise ValueError(f"{where}: float frames must hold finite values in [0, 1]")
        return (frame * 255.0).round().astype(np.uint8)
    raise ValueError(f"{where}: frame dtype must be uint8 or float in [0, 1], got {frame.dtype}")


def _folder_frames(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"folder {folder} holds no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    return files


def _read_folder(files: list[Path]) -> Iterator[np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    for file in files:
        try:
            with Image.open(file) as image:
                yield np.asarray(image.convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"cannot read the frame {file}: {err}") from None


def _read_video(iio, path: Path) -> Iterator[np.ndarray]:
    # imageio opens lazily: errors (unknown container, missing plugin, corrupt data) surface while iterating
    try:
        yield from iio.imiter(path)
    except Exception as err:  # imageio raises many types (OSError, ValueError, plugin errors)
        raise ValueError(f"cannot read {path} as a video: {err}") from None


def iter_frames(source: Any, *, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield frames as (H, W, 3) uint8 RGB arrays.

    ``source``: a folder of images (sorted by file name), a video file (needs imageio), or an iterable of
    frames (PIL images, (H, W, 3) uint8 arrays/tensors or float arrays in [0, 1]).
    """
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames must be >= 0 or None, got {max_frames}")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            frames: Iterable[Any] = _read_folder(_folder_frames(path))
        elif path.is_file():
            iio = _imageio()
            if iio is None:
                raise ValueError(
                    f"reading the video file {path.name} needs imageio (pip install imageio); "
                    "or pass a folder of frames / a list of images"
                )
            frames = _read_video(iio, path)
        else:
            raise ValueError(f"{path} does not exist: pass a video file, a folder of images or a list of frames")
    elif hasattr(source, "__iter__"):
        frames = source
    else:
        raise ValueError(f"frames must be a path, a folder or an iterable of images, got {type(source).__name__}")
    for i, frame in enumerate(frames):
        if max_frames is not None and i >= max_frames:
            break
        yield _to_uint8_rgb(frame, f"frame {i}")


def process_frames(frames: Any, fn: Callable[[np.ndarray], Any], *, max_frames: int | None = None) -> list[Any]:
    """Call ``fn(frame)`` on every frame of ``frames`` (see :func:`iter_frames`) and return the results in order.

    Frames are read lazily, so a long video is never held in memory; only the results are kept.
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    return [fn(frame) for frame in iter_frames(frames, max_frames=max_frames)]


def write_frames(frames: Iterable[Any], path: str | os.PathLike, *, fps: float = 25.0) -> Path:
    """Write frames to a folder of numbered PNGs (``path`` without suffix or an existing folder) or a video file.

    Video files (``.gif``, ``.mp4``…) need imageio (and a plugin for the container). Returns the path written.
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    path = Path(path)
    frames = [_to_uint8_rgb(f, f"frame {i}") for i, f in enumerate(frames)]
    if not frames:
        raise ValueError("no frames to write")
    if path.suffix == "" or path.is_dir():
        from PIL import Image

        path.mkdir(parents=True, exist_ok=True)
        width = max(6, len(str(len(frames))))
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(path / f"{i:0{width}d}.png")
        return path
    iio = _imageio()
    if iio is None:
        raise ValueError(f"writing {path.name} needs imageio (pip install imageio); or write to a folder of PNGs")
    if not path.parent.exists():
        raise ValueError(f"output folder {path.parent} does not exist")
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise ValueError(f"all frames of a video must have the same size, got {sorted(shapes)}")
    kwargs = {"duration": 1000.0 / fps, "loop": 0} if path.suffix.lower() == ".gif" else {"fps": fps}
    try:
        iio.imwrite(path, np.stack(frames), **kwargs)
    except Exception as err:
        raise ValueError(f"cannot write {path.name}: {err} (install a video plugin, e.g. imageio-ffmpeg)") from None
    return path
