import numpy as np
import pytest
import torch
from PIL import Image

from nlv_hf.pipelines.video import iter_frames, process_frames, write_frames


def frames(n=4, h=12, w=16):
    return [np.full((h, w, 3), 40 * i, np.uint8) for i in range(n)]


def test_process_frames_over_a_list_and_max_frames():
    out = process_frames(frames(), lambda f: int(f[0, 0, 0]))
    assert out == [0, 40, 80, 120]
    assert process_frames(frames(), lambda f: f.shape, max_frames=2) == [(12, 16, 3)] * 2
    mixed = [Image.new("RGB", (16, 12), (1, 2, 3)), torch.zeros(12, 16, 3, dtype=torch.uint8), np.ones((12, 16, 3))]
    assert [f[0, 0].tolist() for f in iter_frames(mixed)] == [[1, 2, 3], [0, 0, 0], [255, 255, 255]]


def test_folder_of_frames_round_trip_without_extras(tmp_path):
    out = write_frames(frames(), tmp_path / "clip")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["000000.png", "000001.png", "000002.png", "000003.png"]
    (out / "notes.txt").write_text("ignored")
    assert process_frames(out, lambda f: int(f.mean())) == [0, 40, 80, 120]


def test_video_file_round_trip_with_imageio(tmp_path):
    pytest.importorskip("imageio")
    path = write_frames(frames(3), tmp_path / "clip.gif", fps=10)
    got = process_frames(path, lambda f: f)
    assert len(got) == 3 and got[0].shape == (12, 16, 3)
    assert [int(f.mean()) for f in got] == [0, 40, 80]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # imageio plugin probing (legacy DICOM)
def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        process_frames(tmp_path / "missing", lambda f: f)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        process_frames(tmp_path / "empty", lambda f: f)
    with pytest.raises(ValueError, match="callable"):
        process_frames(frames(), 3)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        process_frames([np.zeros((3, 8, 8, 2), np.uint8)], lambda f: f)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        process_frames([np.full((4, 4, 3), 3.0)], lambda f: f)
    with pytest.raises(ValueError, match="no frames"):
        write_frames([], tmp_path / "out")
    with pytest.raises(ValueError, match="fps"):
        write_frames(frames(), tmp_path / "out", fps=0)
    with pytest.raises(ValueError, match="iterable"):
        process_frames(42, lambda f: f)
    broken = tmp_path / "broken"
    write_frames(frames(2), broken)
    (broken / "000001.png").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="cannot read the frame"):
        process_frames(broken, lambda f: f)
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    pytest.importorskip("imageio")
    with pytest.raises(ValueError, match="cannot read"):
        process_frames(tmp_path / "junk.mp4", lambda f: f)
