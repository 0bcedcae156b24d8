"""Readers and writers for the standard stereo / optical-flow ground-truth formats.

Formats and conventions (arrays are numpy, rows top to bottom, channels last):

* **PFM** (``read_pfm`` / ``write_pfm``): float32 ``H×W`` (``Pf``) or ``H×W×3`` (``PF``). Used by SceneFlow,
  Middlebury 2014/2021/Eval3 and ETH3D (which store ``inf`` for unknown disparity). Values are returned as stored.
* **KITTI 16-bit PNG** (``read_kitti_disparity`` / ``write_kitti_disparity``): ``uint16 = round(256·d)``, ``0`` means
  invalid. ``read_png_disparity(path, scale)`` is the same layout with another scale (CREStereo: 32, Middlebury
  2005/2006: 1, 8-bit files too).
* **KITTI flow PNG** (``read_kitti_flow`` / ``write_kitti_flow``): 16-bit RGB, ``R = 64·u + 2¹⁵``,
  ``G = 64·v + 2¹⁵``,
  ``B = valid``. Pillow truncates 16-bit RGB to 8 bits, so this module carries its own small PNG codec.
* **Middlebury .flo** (``read_flo`` / ``write_flo``): ``b"PIEH"`` (the float 202021.25), int32 width, int32 height,
  then ``H×W×2`` float32 little-endian. Values above 1e9 mean "unknown" by the format's convention.
* **Spring .flo5 / .dsp5** (``read_flo5`` / ``write_flo5`` / ``read_dsp5`` / ``write_dsp5``): HDF5 files with one
  dataset, ``"flow"`` (``H×W×2``) or ``"disparity"`` (``H×W``); NaN marks invalid pixels. ``h5py`` is imported only
  when one of these functions is called.

The KITTI readers return ``(array, valid)`` and put ``+inf`` at invalid pixels, the convention the CroCo-Stereo/Flow
losses and metrics use (they mask ground truth with ``isfinite``). ``invalid_to_inf`` applies the same convention to
the other formats. Every reader raises ``ValueError`` naming the file and the problem for corrupt or truncated input.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL.Image

__all__ = [
    "invalid_to_inf",
    "read_dsp5",
    "read_flo",
    "read_flo5",
    "read_kitti_disparity",
    "read_kitti_flow",
    "read_pfm",
    "read_png_disparity",
    "write_dsp5",
    "write_flo",
    "write_flo5",
    "write_kitti_disparity",
    "write_kitti_flow",
    "write_pfm",
]

FLO_MAGIC = b"PIEH"  # the little-endian bytes of the float 202021.25
FLO_UNKNOWN_THRESHOLD = 1e9
KITTI_FLOW_SCALE = 64.0
KITTI_FLOW_OFFSET = 2**15
KITTI_DISPARITY_SCALE = 256.0
_MAX_SIDE = 1 << 20


def _read_bytes(path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return path.read_bytes()


def _as_float_array(array, name: str) -> np.ndarray:
    array = np.asarray(array)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name} must be a real-valued array, got dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


def invalid_to_inf(array: np.ndarray, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(array with +inf at invalid pixels, valid mask H×W)``.

    A pixel is invalid when ``valid`` says so, or when any channel is NaN, ±inf or above the .flo "unknown" threshold
    (1e9). ``array`` is ``H×W`` or ``H×W×C``.
    """
    array = np.array(array, dtype=np.float32, copy=True)
    magnitude = np.abs(np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0))
    finite = np.isfinite(array) & (magnitude < FLO_UNKNOWN_THRESHOLD)
    ok = finite if array.ndim == 2 else finite.all(axis=-1)
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != ok.shape:
            raise ValueError(f"valid mask has shape {valid.shape}, expected {ok.shape}")
        ok = ok & valid
    array[~ok] = np.inf
    return array, ok


# --------------------------------------------------------------------------------------------------------- PFM

_PFM_HEADER = re.compile(rb"\A(PF|Pf)\s+(\d+)\s+(\d+)\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s")


def read_pfm(path, return_scale: bool = False):
    """Read a PFM file into float32 ``H×W`` (``Pf``) or ``H×W×3`` (``PF``), top row first.

    With ``return_scale=True`` returns ``(array, scale)`` where ``scale`` is the absolute header scale.
    """
    data = _read_bytes(path)
    match = _PFM_HEADER.match(data)
    if match is None:
        head = data[:2]
        if head not in (b"PF", b"Pf"):
            raise ValueError(f"{path}: not a PFM file (starts with {head!r}; expected b'PF' or b'Pf')")
        raise ValueError(f"{path}: malformed PFM header (expected 'PF|Pf', width, height and scale)")
    channels = 3 if match.group(1) == b"PF" else 1
    width, height = int(match.group(2)), int(match.group(3))
    scale = float(match.group(4))
    if width <= 0 or height <= 0 or width > _MAX_SIDE or height > _MAX_SIDE:
        raise ValueError(f"{path}: PFM header gives an invalid size {width}x{height}")
    if scale == 0.0:
        raise ValueError(f"{path}: PFM scale is 0 (its sign gives the byte order and must be non-zero)")
    payload = data[match.end():]
    expected = width * height * channels * 4
    if len(payload) < expected:
        raise ValueError(f"{path}: truncated PFM: {width}x{height}x{channels} float32 needs {expected} bytes of "
                         f"pixel data, found {len(payload)}")
    if len(payload) > expected:
        raise ValueError(f"{path}: PFM has {len(payload) - expected} trailing bytes after the {width}x{height}x"
                         f"{channels} pixel data")
    dtype = np.dtype("<f4") if scale < 0 else np.dtype(">f4")
    array = np.frombuffer(payload, dtype=dtype).reshape((height, width, channels) if channels == 3 else (height, width))
    array = np.ascontiguousarray(array[::-1]).astype(np.float32)
    return (array, abs(scale)) if return_scale else array


def write_pfm(path, array, scale: float = 1.0) -> None:
    """Write a float array ``H×W``, ``H×W×1`` or ``H×W×3`` as little-endian PFM (bottom row first, as the format
    says)."""
    array = _as_float_array(array, "PFM data")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"PFM data must have shape (H, W), (H, W, 1) or (H, W, 3), got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"PFM data is empty (shape {array.shape})")
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"PFM scale must be a positive finite number, got {scale}")
    header = b"PF\n" if array.ndim == 3 else b"Pf\n"
    header += b"%d %d\n" % (array.shape[1], array.shape[0])
    header += (repr(-float(scale)) + "\n").encode("ascii")
    body = np.ascontiguousarray(array[::-1], dtype="<f4").tobytes()
    Path(path).write_bytes(header + body)


# ---------------------------------------------------------------------------------------------- minimal PNG codec

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (no palette)


def _png_chunks(data: bytes, path):
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError(f"{path}: not a PNG file (bad signature)")
    pos = len(_PNG_SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise ValueError(f"{path}: truncated PNG (incomplete chunk header at byte {pos})")
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise ValueError(f"{path}: truncated PNG (chunk {ctype!r} needs {length} bytes)")
        payload = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:end])
        if zlib.crc32(ctype + payload) & 0xFFFFFFFF != crc:
            raise ValueError(f"{path}: corrupt PNG (CRC mismatch in chunk {ctype!r})")
        yield ctype, payload
        if ctype == b"IEND":
            return
        pos = end
    raise ValueError(f"{path}: truncated PNG (no IEND chunk)")


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _png_unfilter(raw: np.ndarray, filters: np.ndarray, height: int, width: int, bpp: int, path) -> np.ndarray:
    """Undo PNG scanline filtering. Vectorised along anti-diagonals: pixel (r, c) needs only (r-1, c), (r, c-1) and
    (r-1, c-1), which all lie on earlier diagonals, so H+W-1 numpy steps reconstruct any mix of the five filters."""
    if filters.size and filters.max() > 4:
        raise ValueError(f"{path}: corrupt PNG (unknown filter type {int(filters.max())})")
    filt = raw.reshape(height, width, bpp).astype(np.int32)
    if np.all(filters == 0):
        return filt.astype(np.uint8)
    out = np.zeros((height + 1, width + 1, bpp), dtype=np.int32)  # one zero row/column of padding
    if np.all(filters <= 2):  # None/Sub/Up only: one step per row (Sub is a running sum along the row)
        for r in range(height):
            row = filt[r]
            if filters[r] == 1:
                row = np.cumsum(row, axis=0)
            elif filters[r] == 2:
                row = row + out[r, 1:]
            out[r + 1, 1:] = row & 255
        return out[1:, 1:].astype(np.uint8)
    for d in range(height + width - 1):
        rows = np.arange(max(0, d - width + 1), min(height, d + 1))
        cols = d - rows
        x = filt[rows, cols]
        a, b, c = out[rows + 1, cols], out[rows, cols + 1], out[rows, cols]
        kind = filters[rows][:, None]
        pred = np.select([kind == 1, kind == 2, kind == 3, kind == 4],
                         [a, b, (a + b) >> 1, _paeth(a, b, c)], default=0)
        out[rows + 1, cols + 1] = (x + pred) & 255
    return out[1:, 1:].astype(np.uint8)


def _read_png(path) -> np.ndarray:
    """Decode a non-interlaced 8- or 16-bit grey/grey+alpha/RGB/RGBA PNG into ``H×W×C`` uint8/uint16."""
    data = _read_bytes(path)
    header, idat = None, []
    for ctype, payload in _png_chunks(data, path):
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", payload)
        elif ctype == b"IDAT":
            idat.append(payload)
    if header is None:
        raise ValueError(f"{path}: corrupt PNG (no IHDR chunk)")
    width, height, depth, colour, _, _, interlace = header
    if colour not in _PNG_CHANNELS or depth not in (8, 16):
        raise ValueError(f"{path}: unsupported PNG (bit depth {depth}, colour type {colour}); "
                         "accepted: 8- or 16-bit grey, grey+alpha, RGB or RGBA")
    if interlace:
        raise ValueError(f"{path}: interlaced PNGs are not supported; re-save the file without interlacing")
    channels, nbytes = _PNG_CHANNELS[colour], depth // 8
    bpp = channels * nbytes
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as err:
        raise ValueError(f"{path}: corrupt PNG image data ({err})") from None
    stride = width * bpp + 1
    if len(raw) != height * stride:
        raise ValueError(f"{path}: truncated PNG: {width}x{height} needs {height * stride} bytes of image data, "
                         f"found {len(raw)}")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride)
    pixels = _png_unfilter(rows[:, 1:], rows[:, 0], height, width, bpp, path)
    if nbytes == 2:
        return pixels.reshape(height, width, channels * 2).view(">u2").astype(np.uint16)
    return pixels.reshape(height, width, channels)


def _write_png(path, array: np.ndarray) -> None:
    """Encode ``H×W×C`` uint8/uint16 (C in 1..4) as a PNG with filter type 0."""
    height, width, channels = array.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    depth = 16 if array.dtype == np.uint16 else 8
    body = np.ascontiguousarray(array, dtype=">u2" if depth == 16 else np.uint8).view(np.uint8)
    body = body.reshape(height, width * channels * depth // 8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), body], axis=1).tobytes()

    def chunk(ctype: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + ctype + payload + struct.pack(">I", zlib.crc32(ctype + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    Path(path).write_bytes(_PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6))
                           + chunk(b"IEND", b""))


# ----------------------------------------------------------------------------------------- KITTI disparity / flow

def read_png_disparity(path, scale: float = KITTI_DISPARITY_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """Read a disparity PNG (``value / scale``, 0 = invalid). Returns ``(disparity H×W float32 with +inf at invalid
    pixels, valid H×W bool)``. KITTI uses 16-bit and ``scale=256``; CREStereo 32; Middlebury 2005/2006 8-bit and 1."""
    try:
        with PIL.Image.open(path) as image:
            image.load()
            values = np.asarray(image)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{path}: cannot read disparity PNG ({err})") from None
    if values.ndim != 2:
        raise ValueError(f"{path}: a disparity PNG must be single-channel, got shape {values.shape}")
    valid = values > 0
    disparity = values.astype(np.float32) / np.float32(scale)
    disparity[~valid] = np.inf
    return disparity, valid


def read_kitti_disparity(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 2012/2015 disparity PNG: ``(disparity H×W float32, +inf where invalid; valid H×W bool)``."""
    return read_png_disparity(path, KITTI_DISPARITY_SCALE)


def write_kitti_disparity(path, disparity, valid=None) -> None:
    """Write a disparity map in the KITTI 16-bit PNG format (``round(256·d)``, 0 = invalid).

    ``valid`` defaults to the finite pixels. Valid disparities must lie in [0, 255.996]; a valid value that rounds
    to 0 is stored as 1/256 so that it stays valid.
    """
    disparity = _as_float_array(disparity, "disparity")
    if disparity.ndim != 2 or 0 in disparity.shape:
        raise ValueError(f"disparity must have shape (H, W), got {disparity.shape}")
    valid = np.isfinite(disparity) if valid is None else np.asarray(valid, dtype=bool) & np.isfinite(disparity)
    if valid.shape != disparity.shape:
        raise ValueError(f"valid mask has shape {valid.shape}, expected {disparity.shape}")
    values = np.where(valid, disparity, 0.0)
    limit = 65535 / KITTI_DISPARITY_SCALE
    if values.min() < 0 or values.max() > limit:
        raise ValueError(f"KITTI disparity PNG stores values in [0, {limit:.3f}]; got [{values.min():.3f}, "
                         f"{values.max():.3f}]")
    encoded = np.round(values.astype(np.float64) * KITTI_DISPARITY_SCALE).astype(np.uint16)
    encoded[valid & (encoded == 0)] = 1
    PIL.Image.fromarray(encoded).save(path, format="PNG")


def read_kitti_flow(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI flow PNG: ``(flow H×W×2 float32 with +inf where invalid, valid H×W bool)``."""
    values = _read_png(path)
    if values.shape[2] != 3 or values.dtype != np.uint16:
        raise ValueError(f"{path}: a KITTI flow PNG is 16-bit RGB, got {values.shape[2]} channel(s) of "
                         f"{values.dtype}")
    valid = values[..., 2] > 0
    flow = (values[..., :2].astype(np.float32) - KITTI_FLOW_OFFSET) / KITTI_FLOW_SCALE
    flow[~valid] = np.inf
    return flow, valid


def write_kitti_flow(path, flow, valid=None) -> None:
    """Write ``flow`` (``H×W×2``) in the KITTI 16-bit RGB PNG format; ``valid`` defaults to the finite pixels.
    Valid components must lie in [-512, 511.98] (the format stores ``64·u + 32768`` in 16 bits)."""
    flow = _as_float_array(flow, "flow")
    if flow.ndim != 3 or flow.shape[2] != 2 or 0 in flow.shape:
        raise ValueError(f"flow must have shape (H, W, 2), got {flow.shape}")
    finite = np.isfinite(flow).all(axis=-1)
    valid = finite if valid is None else np.asarray(valid, dtype=bool) & finite
    if valid.shape != flow.shape[:2]:
        raise ValueError(f"valid mask has shape {valid.shape}, expected {flow.shape[:2]}")
    values = np.where(valid[..., None], flow, 0.0).astype(np.float64) * KITTI_FLOW_SCALE + KITTI_FLOW_OFFSET
    values = np.round(values)
    if values.min() < 0 or values.max() > 65535:
        low, high = -KITTI_FLOW_OFFSET / KITTI_FLOW_SCALE, (65535 - KITTI_FLOW_OFFSET) / KITTI_FLOW_SCALE
        raise ValueError(f"KITTI flow PNG stores components in [{low}, {high:.3f}]; the flow is out of that range")
    encoded = np.concatenate([values, valid[..., None]], axis=-1).astype(np.uint16)
    _write_png(path, encoded)


# ----------------------------------------------------------------------------------------------------------- .flo

def read_flo(path) -> np.ndarray:
    """Read a Middlebury ``.flo`` file into float32 ``H×W×2`` (values > 1e9 mean "unknown" in this format)."""
    data = _read_bytes(path)
    if len(data) < 12:
        raise ValueError(f"{path}: truncated .flo file ({len(data)} bytes; the header alone is 12)")
    if data[:4] != FLO_MAGIC:
        raise ValueError(f"{path}: wrong .flo magic {data[:4]!r} (expected {FLO_MAGIC!r}, the float 202021.25)")
    width, height = struct.unpack("<ii", data[4:12])
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise ValueError(f"{path}: .flo header gives an invalid size {width}x{height}")
    expected = width * height * 8
    if len(data) - 12 != expected:
        raise ValueError(f"{path}: {'truncated' if len(data) - 12 < expected else 'oversized'} .flo file: "
                         f"{width}x{height}x2 float32 needs {expected} bytes of flow, found {len(data) - 12}")
    return np.frombuffer(data, dtype="<f4", offset=12).reshape(height, width, 2).astype(np.float32)


def write_flo(path, flow) -> None:
    """Write float ``H×W×2`` flow as a Middlebury ``.flo`` file."""
    flow = _as_float_array(flow, "flow")
    if flow.ndim != 3 or flow.shape[2] != 2 or 0 in flow.shape:
        raise ValueError(f"flow must have shape (H, W, 2), got {flow.shape}")
    header = FLO_MAGIC + struct.pack("<ii", flow.shape[1], flow.shape[0])
    Path(path).write_bytes(header + np.ascontiguousarray(flow, dtype="<f4").tobytes())


# -------------------------------------------------------------------------------------------- Spring .flo5 / .dsp5

def _h5py():
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - h5py is installed where the tests run
        raise ImportError("reading or writing Spring .flo5/.dsp5 files needs h5py: pip install h5py") from err
    return h5py


def _read_hdf5(path, key: str, ndim: int, what: str) -> np.ndarray:
    h5py = _h5py()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with h5py.File(path, "r") as handle:
            if key not in handle:
                raise ValueError(f"{path}: HDF5 file has no {key!r} dataset (found {sorted(handle.keys())}); "
                                 f"a Spring {what} file stores {key!r}")
            array = np.asarray(handle[key], dtype=np.float32)
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 {what} file ({err})") from None
    if array.ndim != ndim or (ndim == 3 and array.shape[2] != 2):
        raise ValueError(f"{path}: {key!r} has shape {array.shape}, expected {'(H, W, 2)' if ndim == 3 else '(H, W)'}")
    return array


def _write_hdf5(path, key: str, array: np.ndarray) -> None:
    h5py = _h5py()
    with h5py.File(path, "w") as handle:
        handle.create_dataset(key, data=array, compression="gzip", compression_opts=5)


def read_flo5(path) -> np.ndarray:
    """Read a Spring ``.flo5`` flow file: float32 ``H×W×2``, NaN where invalid (Spring GT is at 2× image size)."""
    return _read_hdf5(path, "flow", 3, ".flo5 flow")


def write_flo5(path, flow) -> None:
    """Write float ``H×W×2`` flow as a Spring ``.flo5`` file (gzip level 5, like the Spring tools)."""
    flow = _as_float_array(flow, "flow")
    if flow.ndim != 3 or flow.shape[2] != 2 or 0 in flow.shape:
        raise ValueError(f"flow must have shape (H, W, 2), got {flow.shape}")
    _write_hdf5(path, "flow", flow)


def read_dsp5(path) -> np.ndarray:
    """Read a Spring ``.dsp5`` disparity file: float32 ``H×W``, NaN where invalid."""
    return _read_hdf5(path, "disparity", 2, ".dsp5 disparity")


def write_dsp5(path, disparity) -> None:
    """Write float ``H×W`` disparity as a Spring ``.dsp5`` file."""
    disparity = _as_float_array(disparity, "disparity")
    if disparity.ndim != 2 or 0 in disparity.shape:
        raise ValueError(f"disparity must have shape (H, W), got {disparity.shape}")
    _write_hdf5(path, "disparity", disparity)
