"""The Anny body model (NAVER LABS, Apache-2.0, ``pip install anny``) as Multi-HMR-Anny uses it, batched.

Anny ships its own data (derived from MakeHuman), so it works offline. Its first construction in a fresh environment
parses the data files and writes a cache (``$ANNY_CACHE_DIR``, default ``~/.cache/anny``; about a minute once), later
constructions take well under a second. Parity with upstream Multi-HMR-Anny is tested against anny 0.2.0.
"""

from __future__ import annotations

import functools

import torch

from .rotations import rotation_to_homogeneous

# Phenotypes the Multi-HMR-Anny head drives (the others keep Anny's defaults).
DRIVEN_PHENOTYPES = ("age", "gender", "weight", "height", "muscle", "proportions")
NUM_ANNY_BONES = 163


@functools.lru_cache(maxsize=1)
def _create_anny():
    try:
        import anny
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("the Anny body model needs the `anny` package: pip install 'anny==0.2.0' "
                          "(or pip install 'nlv_hf[body]')") from err
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = anny.create_fullbody_model(remove_unattached_vertices=False, all_phenotypes=True)
        model = model.to(dtype=torch.float32)
        model.set_skinning_method("lbs")
    return model.eval()


class AnnyBodyModel:
    """Batched Anny full-body model (19158 vertices, 163 bones, linear blend skinning).

    Not an ``nn.Module`` child of the network, so its buffers never enter a checkpoint; it always runs in float32 on
    the device of its inputs (a copy per device is cached)."""

    def __init__(self):
        self._models: dict[str, torch.nn.Module] = {}

    def model(self, device) -> torch.nn.Module:
        key = str(torch.device(device))
        if key not in self._models:
            base = _create_anny()
            self._models[key] = base if key == "cpu" else _clone_to(base, device)
        return self._models[key]

    @property
    def phenotype_labels(self) -> list[str]:
        return list(self.model("cpu").phenotype_labels)

    @property
    def joint_names(self) -> list[str]:
        return list(self.model("cpu").bone_labels)

    @property
    def faces(self) -> torch.Tensor:
        """Triangles (F, 3) int64: Anny's quads split along their first diagonal."""
        quads = self.model("cpu").faces.long()
        return torch.cat([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]], dim=0)

    def __call__(self, rotmat: torch.Tensor, phenotypes: torch.Tensor) -> dict[str, torch.Tensor]:
        """``rotmat`` (P, 163, 3, 3) bone rotations (root-relative world parameterisation), ``phenotypes`` (P, 11)
        in [0, 1], in the order of :attr:`phenotype_labels` (only :data:`DRIVEN_PHENOTYPES` are used).

        Returns float32 ``vertices`` (P, 19158, 3), ``joints`` (P, 163, 3) (bone head positions) and
        ``blendshape_coeffs``."""
        if rotmat.ndim != 4 or rotmat.shape[1:] != (NUM_ANNY_BONES, 3, 3):
            raise ValueError(f"rotmat must be (P, {NUM_ANNY_BONES}, 3, 3), got {tuple(rotmat.shape)}")
        model = self.model(rotmat.device)
        labels = model.phenotype_labels
        if phenotypes.ndim != 2 or phenotypes.shape[1] < len(DRIVEN_PHENOTYPES):
            raise ValueError(f"phenotypes must be (P, {len(labels)}) in the order {labels}, "
                             f"got {tuple(phenotypes.shape)}")
        phenotypes = phenotypes.float()
        kwargs = {k: phenotypes[:, i] for i, k in enumerate(labels) if k in DRIVEN_PHENOTYPES}
        out = model(pose_parameters=rotation_to_homogeneous(rotmat.float()), phenotype_kwargs=kwargs)
        return {"vertices": out["vertices"], "joints": out["bone_poses"][:, :, :3, 3],
                "blendshape_coeffs": out["blendshape_coeffs"]}


def _clone_to(model: torch.nn.Module, device) -> torch.nn.Module:
    import copy

    return copy.deepcopy(model).to(device)
