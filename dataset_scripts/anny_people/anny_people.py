"""Procedural multi-person images of Anny bodies with exact 3D/2D ground truth (generated, nothing to download).

Usage (datasets 5 has no loading scripts: import the builder class)::

    from anny_people import AnnyPeople          # this file
    builder = AnnyPeople(config_name="small", cache_dir="...")   # or AnnyPeople(num_samples=5000, image_size=448)
    builder.download_and_prepare()
    ds = builder.as_dataset(split="train")

Each example is produced by ``nlv_hf.data.anny_people.generate_anny_people_sample(seed, index, config)``, so a
config always yields the same bytes. The validation split uses ``seed + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import torch

from nlv_hf.data.anny_people import (
    ANNY_NUM_BONES,
    PHENOTYPE_LABELS,
    AnnyPeopleConfig,
    generate_anny_people_sample,
)

_NUM_VERTICES = 19158  # anny 0.2.0 full-body mesh with remove_unattached_vertices=False

_PER_PERSON_FIELDS = ("joints_3d", "joints_2d", "center_2d", "translation", "root_translation", "rotvec", "phenotypes")

_DESCRIPTION = (
    "Randomly shaped and posed Anny people in front of a known pinhole camera on a procedural background, rendered "
    "with nlv_hf's CPU rasteriser. Ground truth: 3D joints (163 Anny bones), 2D joints, head-joint centres, depth, "
    "instance masks, camera K, per-bone rotations and phenotype (shape) parameters; vertices on request."
)


@dataclass
class AnnyPeopleBuilderConfig(datasets.BuilderConfig):
    """num_samples (train split; validation gets max(1, num_samples // 10)), image_size (int or (H, W)), seed,
    min_people/max_people, include_vertices (adds (P, 19158, 3) float32 vertices: ~230 kB per person)."""

    num_samples: int = 1000
    image_size: int | tuple[int, int] = 256
    seed: int = 0
    min_people: int = 1
    max_people: int = 3
    include_vertices: bool = False

    def __post_init__(self):
        super().__post_init__()
        self.validate()

    def validate(self):
        """Raise ValueError on a bad value (also run by the builder: datasets sets config overrides afterwards)."""
        if not isinstance(self.num_samples, int) or self.num_samples < 1:
            raise ValueError(f"num_samples must be a positive int, got {self.num_samples!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        self.generator_config()  # validates image size and people counts

    def generator_config(self) -> AnnyPeopleConfig:
        return AnnyPeopleConfig(image_size=self.image_size, min_people=self.min_people, max_people=self.max_people)


class AnnyPeople(datasets.GeneratorBasedBuilder):
    BUILDER_CONFIG_CLASS = AnnyPeopleBuilderConfig
    BUILDER_CONFIGS = [
        AnnyPeopleBuilderConfig(name="default", num_samples=1000, image_size=256, description="1000 images, 256x256"),
        AnnyPeopleBuilderConfig(name="small", num_samples=64, image_size=128, description="64 images, 128x128"),
    ]
    DEFAULT_CONFIG_NAME = "default"
    VERSION = datasets.Version("1.0.0")

    def _info(self) -> datasets.DatasetInfo:
        self.config.validate()
        cfg = self.config.generator_config()
        h, w = cfg.image_size
        features = {
            "image": datasets.Image(),
            "K": datasets.Array2D((3, 3), "float32"),
            "depth": datasets.Array2D((h, w), "float32"),
            "instance_mask": datasets.Array2D((h, w), "int8"),  # visible person index, -1 = background
            "num_people": datasets.Value("int32"),
            "joints_3d": datasets.Array3D((None, ANNY_NUM_BONES, 3), "float32"),
            "joints_2d": datasets.Array3D((None, ANNY_NUM_BONES, 2), "float32"),
            "center_2d": datasets.Array2D((None, 2), "float32"),
            "translation": datasets.Array2D((None, 3), "float32"),
            "root_translation": datasets.Array2D((None, 3), "float32"),
            "rotvec": datasets.Array3D((None, ANNY_NUM_BONES, 3), "float32"),
            "phenotypes": datasets.Array2D((None, len(PHENOTYPE_LABELS)), "float32"),
            "seed": datasets.Value("int64"),
            "index": datasets.Value("int64"),
        }
        if self.config.include_vertices:
            features["vertices"] = datasets.Array3D((None, _NUM_VERTICES, 3), "float32")
        return datasets.DatasetInfo(
            description=_DESCRIPTION,
            features=datasets.Features(features),
            license="apache-2.0",
            homepage="https://github.com/naver/anny",
        )

    def _split_generators(self, dl_manager):
        n = self.config.num_samples
        return [
            datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"seed": self.config.seed, "count": n}),
            datasets.SplitGenerator(
                name=datasets.Split.VALIDATION, gen_kwargs={"seed": self.config.seed + 1, "count": max(1, n // 10)}
            ),
        ]

    def _generate_examples(self, seed: int, count: int):
        cfg = self.config.generator_config()
        for index in range(count):
            s = generate_anny_people_sample(seed, index, cfg)
            masks = s["masks"]  # (P, H, W), disjoint (occlusion-aware)
            instance = torch.where(masks.any(0), masks.to(torch.uint8).argmax(0), -1).to(torch.int8).numpy()
            example = {
                "image": s["image"].numpy(),
                "K": s["K"].numpy(),
                "depth": s["depth"].numpy(),
                "instance_mask": instance,
                "num_people": s["num_people"],
                "seed": seed,
                "index": index,
            }
            for key in _PER_PERSON_FIELDS:
                example[key] = s[key].numpy()
            if self.config.include_vertices:
                example["vertices"] = s["vertices"].numpy()
            yield index, example
