"""The croco_pairs builder on tiny folders written in the upstream layouts."""

import numpy as np
import PIL.Image
import pytest
from datasets.exceptions import DatasetGenerationError

from nlv_hf.data.croco_pairs import CroCoPairs, find_pairs
from nlv_hf.data.multiview import render_pair


def _write_pair(folder, stem, seed, ext="jpeg"):
    folder.mkdir(parents=True, exist_ok=True)
    a, b = render_pair(seed, 24, supersample=1)
    PIL.Image.fromarray(a).save(folder / f"{stem}_1.{ext}")
    PIL.Image.fromarray(b).save(folder / f"{stem}_2.{ext}")


@pytest.fixture
def habitat_dir(tmp_path):
    root = tmp_path / "habitat_release"
    _write_pair(root / "scene_a", "000", 0)
    _write_pair(root / "scene_a", "001", 1)
    _write_pair(root / "scene_b", "000", 2, ext="png")
    _write_pair(root / "val" / "scene_c", "000", 3)
    (root / "scene_b" / "lonely_1.jpeg").write_bytes((root / "scene_a" / "000_1.jpeg").read_bytes())  # no _2
    return root


def test_scanned_layout_with_validation_split_and_streaming(habitat_dir, tmp_path):
    builder = CroCoPairs(data_dir=str(habitat_dir), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    splits = builder.as_dataset()
    assert splits["train"]["pair_id"] == ["scene_a/000", "scene_a/001", "scene_b/000"]
    assert splits["validation"]["pair_id"] == ["val/scene_c/000"]
    row = splits["train"][2]
    expected = np.asarray(PIL.Image.open(habitat_dir / "scene_b" / "000_2.png").convert("RGB"))
    np.testing.assert_array_equal(np.asarray(row["image_2"].convert("RGB")), expected)

    stream = builder.as_streaming_dataset(split="train")
    streamed = list(stream)
    assert [r["pair_id"] for r in streamed] == splits["train"]["pair_id"]
    np.testing.assert_array_equal(np.asarray(streamed[2]["image_2"].convert("RGB")), expected)


def test_pairs_txt_and_listing_txt(tmp_path):
    root = tmp_path / "pairs"
    _write_pair(root / "x", "a", 0)
    _write_pair(root / "y", "b", 1)
    (root / "pairs.txt").write_text("y/b_1.jpeg y/b_2.jpeg\nx/a_1.jpeg x/a_2.jpeg")  # upstream: no final newline
    splits = find_pairs(root)
    assert list(splits) == ["train"] and [p[0] for p in splits["train"]] == ["y/b", "x/a"]

    crops = tmp_path / "crops"
    _write_pair(crops / "megadepth" / "0001", "pair", 2, ext="jpg")
    (crops / "listing.txt").write_text("megadepth/0001/pair\n")
    builder = CroCoPairs(data_dir=str(crops), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    ds = builder.as_dataset(split="train")
    assert ds.num_rows == 1 and ds[0]["image_1"].size == (24, 24)


def test_bad_folders(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        find_pairs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image pairs found"):
        find_pairs(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "pairs.txt").write_text("a_1.jpeg a_2.jpeg extra\n")
    with pytest.raises(ValueError, match="line 1 must hold two image paths"):
        find_pairs(bad)
    with pytest.raises(ValueError, match="needs data_dir"):
        CroCoPairs(cache_dir=str(tmp_path / "c0")).download_and_prepare()


def test_missing_and_corrupt_images(tmp_path):
    root = tmp_path / "missing"
    _write_pair(root, "a", 0)
    (root / "pairs.txt").write_text("a_1.jpeg a_2.jpeg\nb_1.jpeg b_2.jpeg\n")
    with pytest.raises(ValueError, match="b_1.jpeg does not exist"):
        CroCoPairs(data_dir=str(root), cache_dir=str(tmp_path / "c1")).download_and_prepare()
    corrupt = tmp_path / "corrupt"
    _write_pair(corrupt, "a", 0)
    (corrupt / "a_2.jpeg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DatasetGenerationError) as info:
        CroCoPairs(data_dir=str(corrupt), cache_dir=str(tmp_path / "c2")).download_and_prepare()
    assert isinstance(info.value.__cause__, ValueError) and "a_2.jpeg is not a readable image" in str(info.value.__cause__)
    with pytest.raises(ValueError, match="not a readable image"):  # streaming raises it directly
        list(CroCoPairs(data_dir=str(corrupt)).as_streaming_dataset(split="train"))
