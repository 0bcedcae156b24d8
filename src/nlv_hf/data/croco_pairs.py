"""``datasets`` builder for CroCo pretraining image pairs in the upstream on-disk format.

Accepted layouts of ``data_dir`` (naver/croco ``datasets/pairs_dataset.py`` and ``datasets/crops/``):

* ``pairs.txt``: one pair per line, two paths relative to ``data_dir`` separated by white space
  (what upstream ``python datasets/pairs_dataset.py`` writes for ``habitat_release``);
* ``listing.txt``: one path prefix per line, relative to ``data_dir``; the pair is ``<prefix>_1.jpg`` +
  ``<prefix>_2.jpg`` (the real-image crops: ARKitScenes, MegaDepth, 3DStreetView, IndoorVL);
* otherwise the folder is scanned for ``*_1.jpeg|jpg|png`` files with a matching ``*_2`` file (the raw Habitat
  renders). Pairs under a folder named ``val``/``validation``/``minival`` go to the ``validation`` split, as upstream
  leaves them out of training.

Each example is ``{"pair_id": str, "image_1": Image, "image_2": Image}`` (image bytes are stored, so the prepared
data set does not depend on the folder any more). Datasets 5 has no loading scripts: import the class::

    from nlv_hf.data.croco_pairs import CroCoPairs
    builder = CroCoPairs(data_dir="data/habitat_release")
    builder.download_and_prepare(); ds = builder.as_dataset(split="train")
    stream = builder.as_streaming_dataset(split="train")
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import PIL.Image

_DESCRIPTION = "Image pairs for CroCo cross-view completion pretraining (upstream pairs.txt / listing.txt format)."
_HOMEPAGE = "https://github.com/naver/croco"
_CITATION = """@inproceedings{croco,
  title={{CroCo: Self-Supervised Pre-training for 3D Vision Tasks by Cross-View Completion}},
  author={Weinzaepfel, Philippe and Leroy, Vincent and Lucas, Thomas and Br\\'egier, Romain and Cabon, Yohann and
          Arora, Vaibhav and Antsfeld, Leonid and Chidlovskii, Boris and Csurka, Gabriela and Revaud, J\\'er\\^ome},
  booktitle={NeurIPS}, year={2022}}
"""
_EXTENSIONS = (".jpeg", ".jpg", ".png")
_VAL_DIRS = {"val", "validation", "minival"}


def _check_image(path: Path) -> None:
    try:
        with PIL.Image.open(path) as image:
            image.verify()
    except Exception as err:  # PIL raises several unrelated types for corrupt files
        raise ValueError(f"{path} is not a readable image ({err}); accepted: JPEG or PNG files") from None


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def find_pairs(data_dir: str | os.PathLike) -> dict[str, list[tuple[str, Path, Path]]]:
    """Split name -> list of ``(pair_id, path_1, path_2)`` for a folder in one of the accepted layouts."""
    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"data_dir {root} is not a folder; give the folder holding pairs.txt, listing.txt or "
                         "*_1.jpeg/*_2.jpeg files")
    splits: dict[str, list] = {"train": [], "validation": []}
    if (root / "pairs.txt").is_file():
        for number, line in enumerate(_read_lines(root / "pairs.txt"), start=1):
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{root / 'pairs.txt'} line {number} must hold two image paths separated by a "
                                 f"space, got {line!r}")
            pair_id = str(Path(parts[0]).with_suffix("")).removesuffix("_1")
            splits["train"].append((pair_id, root / parts[0], root / parts[1]))
    elif (root / "listing.txt").is_file():
        for prefix in _read_lines(root / "listing.txt"):
            splits["train"].append((prefix, root / f"{prefix}_1.jpg", root / f"{prefix}_2.jpg"))
    else:
        for path in sorted(root.rglob("*_1.*")):
            if path.suffix.lower() not in _EXTENSIONS:
                continue
            second = path.with_name(path.name[: -len("_1" + path.suffix)] + "_2" + path.suffix)
            if not second.is_file():
                continue
            relative = path.relative_to(root)
            pair_id = str(relative.with_suffix(""))[: -len("_1")]
            split = "validation" if _VAL_DIRS & {p.lower() for p in relative.parts[:-1]} else "train"
            splits[split].append((pair_id, path, second))
    if not splits["train"] and not splits["validation"]:
        raise ValueError(f"no image pairs found in {root}: expected pairs.txt, listing.txt, or files named "
                         "<name>_1.jpeg and <name>_2.jpeg (or .jpg/.png)")
    for pairs in splits.values():
        for _, path_1, path_2 in pairs:
            for path in (path_1, path_2):
                if not path.is_file():
                    raise ValueError(f"pair image {path} does not exist (listed or expected in {root})")
    return {name: pairs for name, pairs in splits.items() if pairs}


class CroCoPairs(datasets.GeneratorBasedBuilder):
    """Image pairs for CroCo pretraining from a local ``data_dir`` (see the module docstring for the layouts)."""

    VERSION = datasets.Version("1.0.0")

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=datasets.Features({
                "pair_id": datasets.Value("string"),
                "image_1": datasets.Image(),
                "image_2": datasets.Image(),
            }),
            homepage=_HOMEPAGE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager):
        if not self.config.data_dir:
            raise ValueError("CroCoPairs needs data_dir=<folder of image pairs> (pairs.txt, listing.txt or "
                             "*_1.jpeg/*_2.jpeg files)")
        splits = find_pairs(self.config.data_dir)
        names = {"train": datasets.Split.TRAIN, "validation": datasets.Split.VALIDATION}
        return [datasets.SplitGenerator(name=names[name], gen_kwargs={"pairs": pairs, "root": self.config.data_dir})
                for name, pairs in splits.items()]

    def _generate_examples(self, pairs, root):
        # a corrupt file raises ValueError here; datasets re-raises it as DatasetGenerationError (its __cause__)
        for pair_id, path_1, path_2 in pairs:
            _check_image(path_1)
            _check_image(path_2)
            yield pair_id, {
                "pair_id": pair_id,
                "image_1": {"path": str(path_1), "bytes": path_1.read_bytes()},
                "image_2": {"path": str(path_2), "bytes": path_2.read_bytes()},
            }


__all__ = ["CroCoPairs", "find_pairs"]
