"""Procedural multi-person images made with the Anny body model, with exact ground truth.

Each sample places 1..N randomly shaped and posed Anny people in front of a known pinhole camera, on a
procedural background, and renders them with :mod:`nlv_hf.body.render`. Everything a mesh-recovery model is
trained or evaluated on comes out exactly: vertices, 3D joints, 2D joints, person centres (the ``head`` joint,
as Multi-HMR-Anny uses), depth, visible masks, the camera K and the pose/shape parameters.

Conventions: OpenCV camera frame (x right, y down, z forward, metres), pixel centres at ``(c + 0.5, r + 0.5)``.
Pose parameters are Anny's 163 per-bone local rotations (axis-angle, ``rotvec``) in the ``root_relative_world``
parameterisation; the root rotation already includes the +90° turn about x that stands the Z-up Anny body up in
the camera frame (as in upstream ``multi_hmr_anny``), followed by a random turn about the vertical axis. Shape
parameters are Anny's 11 phenotype values in ``PHENOTYPE_LABELS`` order; only the first six are sampled, the
others stay at Anny's neutral 0.5.

Samples are deterministic functions of ``(seed, index)`` and the config: the same call gives the same bytes.

Only :func:`anny_body_forward` touches the ``anny`` package, so the body model can be swapped for the
``nlv_hf.body`` Anny wrapper in one place.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from ..body.render import project_points, render_people
from ..body.rotations import rotmat_to_rotvec, rotvec_to_rotmat

__all__ = [
    "ANNY_NUM_BONES",
    "PHENOTYPE_LABELS",
    "SAMPLED_PHENOTYPES",
    "AnnyPeopleConfig",
    "AnnyPeopleDataset",
    "anny_body_forward",
    "collate_anny_people",
    "generate_anny_people_sample",
]

ANNY_NUM_BONES = 163
# anny 0.2.0 phenotype labels with all_phenotypes=True (the order of Multi-HMR-Anny's `shape` output)
PHENOTYPE_LABELS = (
    "gender", "age", "muscle", "weight", "height", "proportions", "cupsize", "firmness", "african", "asian", "caucasian"
)  # fmt: skip
SAMPLED_PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")  # those Multi-HMR-Anny uses

# Bones that get a small random rotation, with a per-bone scale of the maximum angle. Everything else (fingers,
# toes, face, tongue, breasts) stays at rest, which keeps poses plausible.
_POSED_BONES = {
    "spine01": 0.5, "spine02": 0.5, "spine03": 0.5, "spine04": 0.5, "spine05": 0.5,
    "neck01": 0.5, "neck02": 0.5, "neck03": 0.5, "head": 0.8,
    "clavicle.L": 0.4, "clavicle.R": 0.4, "shoulder01.L": 0.6, "shoulder01.R": 0.6,
    "upperarm01.L": 1.5, "upperarm01.R": 1.5, "upperarm02.L": 0.8, "upperarm02.R": 0.8,
    "lowerarm01.L": 1.5, "lowerarm01.R": 1.5, "lowerarm02.L": 0.5, "lowerarm02.R": 0.5,
    "wrist.L": 0.8, "wrist.R": 0.8,
    "upperleg01.L": 0.8, "upperleg01.R": 0.8, "upperleg02.L": 0.4, "upperleg02.R": 0.4,
    "lowerleg01.L": 0.8, "lowerleg01.R": 0.8, "lowerleg02.L": 0.3, "lowerleg02.R": 0.3,
    "foot.L": 0.5, "foot.R": 0.5,
}  # fmt: skip

_BODY: dict[str, Any] = {}


def _anny_body():
    """The shared :class:`nlv_hf.body.anny_model.AnnyBodyModel` (built once per process), checked to be the Anny
    release this generator is written for."""
    if "body" not in _BODY:
        from ..body.anny_model import AnnyBodyModel

        body = AnnyBodyModel()
        if tuple(body.phenotype_labels) != PHENOTYPE_LABELS or len(body.joint_names) != ANNY_NUM_BONES:
            raise ImportError(
                f"unexpected Anny model (phenotypes {body.phenotype_labels}, {len(body.joint_names)} bones): "
                "this generator is written for anny==0.2.0"
            )
        _BODY.update(body=body, faces=body.faces, names=body.joint_names)
    return _BODY["body"]


def anny_body_forward(rotmats: torch.Tensor, phenotypes: torch.Tensor) -> dict[str, Any]:
    """Pose and shape Anny people with the Anny body model of Multi-HMR-Anny (:class:`AnnyBodyModel`).

    Args:
        rotmats: (B, 163, 3, 3) per-bone local rotations (``root_relative_world``; bone 0 is the root).
        phenotypes: (B, 11) phenotype values in ``PHENOTYPE_LABELS`` order (only ``SAMPLED_PHENOTYPES`` are used,
            as in Multi-HMR-Anny).

    Returns:
        dict with ``vertices`` (B, V, 3) and ``joints`` (B, 163, 3) in the body frame (root joint at the origin),
        ``faces`` (F, 3) int64 triangles and ``joint_names`` (163 bone labels).

    Anny caches its preprocessed data under ``$ANNY_CACHE_DIR`` (default ``~/.cache/anny``); the very first build in
    a fresh environment takes ~1-2 minutes.
    """
    body = _anny_body()
    with torch.no_grad():
        out = body(rotmats, phenotypes)
    return {"vertices": out["vertices"], "joints": out["joints"], "faces": _BODY["faces"],
            "joint_names": _BODY["names"]}


@dataclass
class AnnyPeopleConfig:
    """How samples are drawn. All ranges are inclusive ``(low, high)`` pairs.

    Attributes:
        image_size: (height, width) in pixels.
        min_people, max_people: number of people per image (uniform).
        fov_degrees: field of view across the longer image side; f = max(H, W) / (2 tan(fov / 2)), principal
            point at the image centre.
        depth_range: distance (z, metres) of each person's root joint.
        max_joint_angle: largest random rotation (radians, per axis) of the posed bones, scaled per bone.
        max_yaw: largest turn (radians) of the body about the vertical axis; 0 faces the camera.
        phenotype_ranges: sampling range of each of ``SAMPLED_PHENOTYPES``.
    """

    image_size: tuple[int, int] = (128, 128)
    min_people: int = 1
    max_people: int = 3
    fov_degrees: float = 60.0
    depth_range: tuple[float, float] = (4.0, 7.0)
    max_joint_angle: float = 0.3
    max_yaw: float = 0.7
    phenotype_ranges: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "gender": (0.0, 1.0),
            "age": (0.45, 1.0),
            "muscle": (0.2, 0.8),
            "weight": (0.2, 0.8),
            "height": (0.2, 0.8),
            "proportions": (0.3, 0.7),
        }
    )

    def __post_init__(self):
        if isinstance(self.image_size, int):
            self.image_size = (self.image_size, self.image_size)
        self.image_size = tuple(int(s) for s in self.image_size)
        if len(self.image_size) != 2 or min(self.image_size) < 16 or max(self.image_size) > 4096:
            raise ValueError(f"image_size must be (height, width) in [16, 4096], got {self.image_size}")
        if not 1 <= self.min_people <= self.max_people <= 16:
            raise ValueError(f"need 1 <= min_people <= max_people <= 16, got {self.min_people}, {self.max_people}")
        if not 10.0 <= self.fov_degrees <= 150.0:
            raise ValueError(f"fov_degrees must be in [10, 150], got {self.fov_degrees}")
        lo, hi = self.depth_range
        if not 0.5 <= lo <= hi <= 100.0:
            raise ValueError(f"depth_range must satisfy 0.5 <= low <= high <= 100 metres, got {self.depth_range}")
        if not 0.0 <= self.max_joint_angle <= 1.0:
            raise ValueError(f"max_joint_angle must be in [0, 1] radians (plausible poses), got {self.max_joint_angle}")
        if not 0.0 <= self.max_yaw <= math.pi:
            raise ValueError(f"max_yaw must be in [0, pi], got {self.max_yaw}")
        unknown = set(self.phenotype_ranges) - set(SAMPLED_PHENOTYPES)
        if unknown:
            raise ValueError(f"unknown phenotypes {sorted(unknown)}; allowed: {SAMPLED_PHENOTYPES}")
        for k, (a, b) in self.phenotype_ranges.items():
            if not 0.0 <= a <= b <= 1.0:
                raise ValueError(f"phenotype range for {k!r} must lie in [0, 1] with low <= high, got {(a, b)}")

    @property
    def K(self) -> torch.Tensor:
        h, w = self.image_size
        f = max(h, w) / (2.0 * math.tan(math.radians(self.fov_degrees) / 2.0))
        return torch.tensor([[f, 0.0, w / 2.0], [0.0, f, h / 2.0], [0.0, 0.0, 1.0]], dtype=torch.float32)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sample_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _uniform(gen: torch.Generator, shape, low, high) -> torch.Tensor:
    return low + (high - low) * torch.rand(shape, generator=gen)


def _posed_bone_scales(joint_names: list[str]) -> torch.Tensor:
    scales = torch.zeros(len(joint_names))
    for i, name in enumerate(joint_names):
        scales[i] = _POSED_BONES.get(name, 0.0)
    return scales


def _background(gen: torch.Generator, h: int, w: int) -> torch.Tensor:
    """(H, W, 3) float in [0, 1]: sky-to-floor gradient, a horizon, and low-frequency colour noise."""
    top, bottom, floor = torch.rand(3, 3, generator=gen) * 0.6 + 0.2
    horizon = float(_uniform(gen, (), 0.45, 0.75))
    t = torch.linspace(0, 1, h)[:, None, None]
    sky = top * (1 - t / horizon) + bottom * (t / horizon)
    ground = floor * (0.7 + 0.3 * (t - horizon) / max(1e-6, 1 - horizon))
    img = torch.where(t < horizon, sky, ground).expand(h, w, 3).clone()
    noise = torch.rand(1, 3, 6, 8, generator=gen) - 0.5
    noise = torch.nn.functional.interpolate(noise, size=(h, w), mode="bicubic", align_corners=False)[0]
    return (img + 0.15 * noise.permute(1, 2, 0)).clamp(0, 1)


def generate_anny_people_sample(seed: int, index: int = 0, config: AnnyPeopleConfig | None = None) -> dict[str, Any]:
    """Draw one sample; a deterministic function of ``(seed, index, config)``.

    Returns a dict of tensors (P = number of people, V = 19158 vertices, J = 163 joints):
    ``image`` (H, W, 3) uint8, ``K`` (3, 3), ``depth`` (H, W) float (0 = background), ``masks`` (P, H, W) bool
    (visible pixels of each person), ``vertices`` (P, V, 3), ``joints_3d`` (P, J, 3), ``joints_2d`` (P, J, 2),
    ``center_2d`` (P, 2) (head joint, pixels), ``translation`` (P, 3) (head joint, camera space),
    ``root_translation`` (P, 3), ``rotvec`` (P, J, 3) local bone rotations, ``phenotypes`` (P, 11),
    ``num_people`` and ``seed``.
    """
    cfg = config or AnnyPeopleConfig()
    gen = torch.Generator().manual_seed(_sample_seed(seed, index))
    h, w = cfg.image_size
    K = cfg.K
    n = int(torch.randint(cfg.min_people, cfg.max_people + 1, (), generator=gen))

    # shape
    phen = torch.full((n, len(PHENOTYPE_LABELS)), 0.5)
    for k in SAMPLED_PHENOTYPES:
        lo, hi = cfg.phenotype_ranges.get(k, (0.5, 0.5))
        phen[:, PHENOTYPE_LABELS.index(k)] = _uniform(gen, (n,), lo, hi)

    # pose: small random local rotations on the main body bones, rest elsewhere
    names = _anny_body().joint_names
    scales = _posed_bone_scales(names)
    local = (torch.rand(n, ANNY_NUM_BONES, 3, generator=gen) * 2 - 1) * cfg.max_joint_angle * scales[None, :, None]
    yaw = _uniform(gen, (n,), -cfg.max_yaw, cfg.max_yaw)
    stand_up = rotvec_to_rotmat(torch.tensor([math.pi / 2, 0.0, 0.0]))  # Anny is Z-up; camera y points down
    turn = rotvec_to_rotmat(torch.stack([torch.zeros(n), yaw, torch.zeros(n)], -1))
    rotmats = rotvec_to_rotmat(local)
    rotmats[:, 0] = turn @ stand_up
    rotvec = rotmat_to_rotvec(rotmats)

    body = anny_body_forward(rotmats, phen)
    faces = body["faces"]
    head = body["joint_names"].index("head")

    # placement: one horizontal slot per person (non-overlapping-ish), random depth, root near the optical axis
    depth = _uniform(gen, (n,), *cfg.depth_range)
    slot = (torch.arange(n) + 0.5 + _uniform(gen, (n,), -0.2, 0.2)) / n
    order = torch.randperm(n, generator=gen)  # which person goes to which slot
    u = slot[order] * w
    f = K[0, 0]
    root = torch.stack([(u - K[0, 2]) / f * depth, _uniform(gen, (n,), -0.2, 0.25), depth], -1)
    vertices = body["vertices"] + root[:, None]
    joints = body["joints"] + root[:, None]

    # appearance and rendering
    colors = torch.rand(n, 3, generator=gen) * 0.6 + 0.35
    background = _background(gen, h, w)
    rgb, alpha, frags = render_people(vertices, faces, K, (h, w), colors=colors, ambient=0.4)
    image = background * (1 - alpha[..., None]) + rgb * alpha[..., None]
    person_ids = torch.arange(n)
    masks = frags.person_index[None] == person_ids[:, None, None]
    depth_map = torch.where(frags.mask, frags.depth, torch.zeros_like(frags.depth))

    joints_2d = project_points(joints, K)
    return {
        "image": (image * 255).round().to(torch.uint8),
        "K": K,
        "depth": depth_map,
        "masks": masks,
        "vertices": vertices,
        "joints_3d": joints,
        "joints_2d": joints_2d,
        "center_2d": joints_2d[:, head],
        "translation": joints[:, head],
        "root_translation": root,
        "rotvec": rotvec,
        "phenotypes": phen,
        "num_people": n,
        "seed": int(seed),
        "index": int(index),
    }


class AnnyPeopleDataset(torch.utils.data.Dataset):
    """A map-style dataset of ``num_samples`` procedural Anny scenes; item ``i`` is sample ``(seed, i)``.

    ``dataset.faces`` (F, 3) and ``dataset.joint_names`` describe the mesh shared by all people. Use
    :func:`collate_anny_people` as ``collate_fn`` to batch images with different numbers of people.
    """

    def __init__(self, num_samples: int, config: AnnyPeopleConfig | None = None, seed: int = 0):
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.num_samples = num_samples
        self.config = config or AnnyPeopleConfig()
        self.seed = seed

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        return generate_anny_people_sample(self.seed, index % self.num_samples, self.config)

    @property
    def faces(self) -> torch.Tensor:
        return self._body()["faces"]

    @property
    def joint_names(self) -> list[str]:
        return self._body()["joint_names"]

    @staticmethod
    def _body() -> dict[str, Any]:
        _anny_body()
        return {"faces": _BODY["faces"], "joint_names": _BODY["names"]}


_PER_PERSON = (
    "masks", "vertices", "joints_3d", "joints_2d", "center_2d", "translation", "root_translation", "rotvec",
    "phenotypes",
)  # fmt: skip


def collate_anny_people(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch samples: per-image tensors are stacked, per-person tensors are zero-padded to the largest count.

    Adds ``people_mask`` (B, P_max) bool, True for real people.
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    p_max = max(s["num_people"] for s in samples)
    out: dict[str, Any] = {
        "image": torch.stack([s["image"] for s in samples]),
        "K": torch.stack([s["K"] for s in samples]),
        "depth": torch.stack([s["depth"] for s in samples]),
        "num_people": torch.tensor([s["num_people"] for s in samples]),
        "people_mask": torch.arange(p_max)[None] < torch.tensor([s["num_people"] for s in samples])[:, None],
    }
    for key in _PER_PERSON:
        out[key] = torch.nn.utils.rnn.pad_sequence([s[key] for s in samples], batch_first=True)
    return out
