"""Stereo/flow file formats: exact round trips, known bytes, and clear errors on bad files."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import PIL.Image
import pytest

from nlv_hf.data import formats

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("shape", [(5, 7), (4, 6, 3)])
def test_pfm_round_trip_exact(tmp_path, shape):
    data = RNG.normal(size=shape).astype(np.float32)
    data.flat[0] = np.inf
    data.flat[1] = -np.inf
    formats.write_pfm(tmp_path / "a.pfm", data)
    back, scale = formats.read_pfm(tmp_path / "a.pfm", return_scale=True)
    assert back.dtype == np.float32 and back.shape == shape and scale == 1.0
    np.testing.assert_array_equal(back, data)


def test_pfm_reads_big_endian_bottom_up(tmp_path):
    # Hand-made big-endian file: rows are stored bottom first, so the first stored row is the last image row.
    payload = np.array([[1, 2, 3], [4, 5, 6]], dtype=">f4").tobytes()
    (tmp_path / "b.pfm").write_bytes(b"Pf\n3 2\n1.0\n" + payload)
    np.testing.assert_array_equal(formats.read_pfm(tmp_path / "b.pfm"), [[4, 5, 6], [1, 2, 3]])


def test_pfm_bad_files(tmp_path):
    good = tmp_path / "good.pfm"
    formats.write_pfm(good, np.ones((4, 5), np.float32))
    (tmp_path / "trunc.pfm").write_bytes(good.read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"trunc\.pfm: truncated PFM.*needs 80 bytes.*found 77"):
        formats.read_pfm(tmp_path / "trunc.pfm")
    (tmp_path / "magic.pfm").write_bytes(b"P6\n4 5\n255\n" + bytes(60))
    with pytest.raises(ValueError, match=r"magic\.pfm: not a PFM file"):
        formats.read_pfm(tmp_path / "magic.pfm")
    (tmp_path / "header.pfm").write_bytes(b"Pf\nfour 5\n-1.0\n" + bytes(80))
    with pytest.raises(ValueError, match=r"header\.pfm: malformed PFM header"):
        formats.read_pfm(tmp_path / "header.pfm")
    (tmp_path / "extra.pfm").write_bytes(good.read_bytes() + b"xx")
    with pytest.raises(ValueError, match="2 trailing bytes"):
        formats.read_pfm(tmp_path / "extra.pfm")
    with pytest.raises(ValueError, match="must have shape"):
        formats.write_pfm(tmp_path / "x.pfm", np.ones((2, 3, 2), np.float32))
    with pytest.raises(FileNotFoundError, match="no such file"):
        formats.read_pfm(tmp_path / "missing.pfm")


def test_flo_round_trip_and_known_header(tmp_path):
    flow = RNG.normal(scale=20, size=(3, 5, 2)).astype(np.float32)
    formats.write_flo(tmp_path / "a.flo", flow)
    raw = (tmp_path / "a.flo").read_bytes()
    assert raw[:4] == b"PIEH" and struct.unpack("<f", raw[:4])[0] == 202021.25
    assert struct.unpack("<ii", raw[4:12]) == (5, 3) and len(raw) == 12 + 3 * 5 * 2 * 4
    np.testing.assert_array_equal(formats.read_flo(tmp_path / "a.flo"), flow)


def test_flo_bad_files(tmp_path):
    formats.write_flo(tmp_path / "good.flo", np.zeros((3, 4, 2), np.float32))
    raw = (tmp_path / "good.flo").read_bytes()
    (tmp_path / "magic.flo").write_bytes(b"XXXX" + raw[4:])
    with pytest.raises(ValueError, match=r"magic\.flo: wrong \.flo magic b'XXXX'"):
        formats.read_flo(tmp_path / "magic.flo")
    (tmp_path / "trunc.flo").write_bytes(raw[:-8])
    with pytest.raises(ValueError, match=r"trunc\.flo: truncated \.flo file.*needs 96 bytes.*found 88"):
        formats.read_flo(tmp_path / "trunc.flo")
    (tmp_path / "size.flo").write_bytes(b"PIEH" + struct.pack("<ii", -3, 4))
    with pytest.raises(ValueError, match="invalid size -3x4"):
        formats.read_flo(tmp_path / "size.flo")
    with pytest.raises(ValueError, match=r"shape \(H, W, 2\)"):
        formats.write_flo(tmp_path / "x.flo", np.zeros((3, 4, 3)))


def test_kitti_disparity_round_trip_and_encoding(tmp_path):
    disparity = (RNG.integers(1, 255 * 256, size=(6, 9)) / 256).astype(np.float32)
    disparity[2, 3] = np.inf
    valid = np.isfinite(disparity)
    formats.write_kitti_disparity(tmp_path / "d.png", disparity)
    stored = np.asarray(PIL.Image.open(tmp_path / "d.png"))
    assert stored.dtype == np.uint16 and stored[2, 3] == 0 and stored[0, 0] == round(disparity[0, 0] * 256)
    back, back_valid = formats.read_kitti_disparity(tmp_path / "d.png")
    np.testing.assert_array_equal(back_valid, valid)
    np.testing.assert_array_equal(back[valid], disparity[valid])
    assert np.isposinf(back[~valid]).all()
    with pytest.raises(ValueError, match=r"stores values in \[0, 255.996\]"):
        formats.write_kitti_disparity(tmp_path / "e.png", np.full((2, 2), 300.0))


def test_kitti_flow_round_trip_and_encoding(tmp_path):
    flow = (RNG.integers(-512 * 64, 511 * 64, size=(7, 11, 2)) / 64).astype(np.float32)
    valid = RNG.random((7, 11)) > 0.3
    formats.write_kitti_flow(tmp_path / "f.png", flow, valid)
    back, back_valid = formats.read_kitti_flow(tmp_path / "f.png")
    np.testing.assert_array_equal(back_valid, valid)
    np.testing.assert_array_equal(back[valid], flow[valid])
    assert np.isposinf(back[~valid]).all()
    raw = formats._read_png(tmp_path / "f.png")  # the stored 16-bit RGB values
    i, j = np.argwhere(valid)[0]
    assert raw.dtype == np.uint16 and tuple(raw[i, j]) == (flow[i, j, 0] * 64 + 32768, flow[i, j, 1] * 64 + 32768, 1)
    with pytest.raises(ValueError, match="out of that range"):
        formats.write_kitti_flow(tmp_path / "g.png", np.full((2, 2, 2), 600.0))


def _png(rows: np.ndarray, filters: list[int], depth: int, colour: int, width: int) -> bytes:
    """A PNG whose scanlines are filtered with the given filter type per row (independent reference encoder)."""
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour] * depth // 8
    data = rows.astype(np.int64)
    out = []
    for r, kind in enumerate(filters):
        x = data[r]
        a = np.concatenate([np.zeros(bpp, np.int64), x[:-bpp]])
        b = data[r - 1] if r else np.zeros_like(x)
        c = np.concatenate([np.zeros(bpp, np.int64), b[:-bpp]])
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        pred = [np.zeros_like(x), a, b, (a + b) // 2, paeth][kind]
        out.append(bytes([kind]) + ((x - pred) % 256).astype(np.uint8).tobytes())

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    height = rows.shape[0]
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(out))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("filters", [[0, 0, 0, 0, 0], [1, 2, 1, 2, 0], [3, 4, 0, 1, 2], [4, 4, 3, 3, 4]])
def test_png_decoder_all_filter_types(tmp_path, filters):
    pixels = RNG.integers(0, 65536, size=(5, 6, 3)).astype(np.uint16)
    rows = pixels.astype(">u2").view(np.uint8).reshape(5, -1)
    (tmp_path / "p.png").write_bytes(_png(rows, filters, 16, 2, 6))
    np.testing.assert_array_equal(formats._read_png(tmp_path / "p.png"), pixels)


def test_png_decoder_matches_pillow(tmp_path):
    y, x = np.mgrid[:20, :30]
    pixels = np.stack([(3 * x + y) % 256, 100 + 80 * np.sin(x / 4), (x * y) % 256], -1).astype(np.uint8)
    PIL.Image.fromarray(pixels).save(tmp_path / "q.png", optimize=True)  # Pillow picks adaptive filters
    np.testing.assert_array_equal(formats._read_png(tmp_path / "q.png"), pixels)


def test_png_bad_files(tmp_path):
    formats.write_kitti_flow(tmp_path / "good.png", np.zeros((3, 4, 2), np.float32))
    raw = bytearray((tmp_path / "good.png").read_bytes())
    (tmp_path / "trunc.png").write_bytes(bytes(raw[:40]))
    with pytest.raises(ValueError, match=r"trunc\.png: truncated PNG"):
        formats.read_kitti_flow(tmp_path / "trunc.png")
    raw[20] ^= 0xFF  # inside IHDR: the CRC no longer matches
    (tmp_path / "crc.png").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"crc\.png: corrupt PNG \(CRC mismatch"):
        formats.read_kitti_flow(tmp_path / "crc.png")
    (tmp_path / "notpng.png").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not a PNG file"):
        formats.read_kitti_flow(tmp_path / "notpng.png")
    PIL.Image.fromarray(np.zeros((3, 4, 3), np.uint8)).save(tmp_path / "rgb8.png")
    with pytest.raises(ValueError, match="16-bit RGB"):
        formats.read_kitti_flow(tmp_path / "rgb8.png")
    (tmp_path / "bad_disp.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match=r"bad_disp\.png: cannot read disparity PNG"):
        formats.read_kitti_disparity(tmp_path / "bad_disp.png")


def test_flo5_dsp5_round_trip_and_errors(tmp_path):
    h5py = pytest.importorskip("h5py")
    flow = RNG.normal(size=(4, 6, 2)).astype(np.float32)
    flow[1, 2] = np.nan
    formats.write_flo5(tmp_path / "a.flo5", flow)
    np.testing.assert_array_equal(formats.read_flo5(tmp_path / "a.flo5"), flow)
    disparity = RNG.uniform(0, 100, size=(4, 6)).astype(np.float32)
    formats.write_dsp5(tmp_path / "a.dsp5", disparity)
    np.testing.assert_array_equal(formats.read_dsp5(tmp_path / "a.dsp5"), disparity)
    back, valid = formats.invalid_to_inf(formats.read_flo5(tmp_path / "a.flo5"))
    assert not valid[1, 2] and valid.sum() == 23 and np.isposinf(back[1, 2]).all()
    with pytest.raises(ValueError, match=r"a\.dsp5: HDF5 file has no 'flow' dataset"):
        formats.read_flo5(tmp_path / "a.dsp5")
    with h5py.File(tmp_path / "shape.flo5", "w") as handle:
        handle.create_dataset("flow", data=np.zeros((4, 6, 3), np.float32))
    with pytest.raises(ValueError, match=r"shape\.flo5: 'flow' has shape \(4, 6, 3\)"):
        formats.read_flo5(tmp_path / "shape.flo5")
    (tmp_path / "junk.flo5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=r"junk\.flo5: not a readable HDF5"):
        formats.read_flo5(tmp_path / "junk.flo5")
