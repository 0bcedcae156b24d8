"""SMPL-X through the ``smplx`` package, with the licensed model file found by path or environment variable.

The SMPL-X model files are licensed by the Max Planck Institute and cannot be redistributed: register at
https://smpl-x.is.tue.mpg.de, download "SMPL-X v1.1" and point ``NLV_SMPLX_DIR`` (or ``SMPLX_DIR``, or the
``smplx_path`` argument) to the folder holding ``SMPLX_NEUTRAL.npz`` (a folder with a ``smplx/`` sub-folder, as in
the official archive, works too). :mod:`nlv_hf.body.synthetic_smplx` writes a random file of the same layout for tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .rotations import rotvec_to_rotmat

SMPLX_URL = "https://smpl-x.is.tue.mpg.de"
ENV_VARS = ("NLV_SMPLX_DIR", "SMPLX_DIR")
NUM_SMPLX_ROTATIONS = 53  # global, 21 body, 15 + 15 hands, jaw (eyes are kept at zero)
NUM_SMPLX_JOINTS = 127  # 55 skeleton + 21 vertex-selected + 51 face landmarks (no face contour)


class BodyModelFilesNotFoundError(FileNotFoundError, ValueError):
    """A licensed body-model file is missing; the message says which file, where it was looked for and where to get
    it. Also a ``ValueError``, so the CLI and apps report it like any other bad input."""


def find_smplx_file(path: str | os.PathLike | None = None, gender: str = "neutral") -> Path:
    """Locate ``SMPLX_<GENDER>.npz`` from ``path`` (a file or folder), else ``$NLV_SMPLX_DIR`` / ``$SMPLX_DIR``."""
    filename = f"SMPLX_{gender.upper()}.npz"
    candidates: list[Path] = []
    sources = [("smplx_path", path)] + [(name, os.environ.get(name)) for name in ENV_VARS]
    for source, value in sources:
        if not value:
            continue
        base = Path(value).expanduser()
        if base.is_file():
            return base
        candidates += [base / filename, base / "smplx" / filename, base / "models" / "smplx" / filename]
        for candidate in candidates[-3:]:
            if candidate.is_file():
                return candidate
    looked = ", ".join(str(c) for c in candidates) or "nowhere (no path given and NLV_SMPLX_DIR/SMPLX_DIR unset)"
    raise BodyModelFilesNotFoundError(
        f"SMPL-X model file {filename} not found; looked in: {looked}. The SMPL-X files are licensed and not "
        f"distributed with nlv_hf: register at {SMPLX_URL}, download SMPL-X v1.1 (npz) and set NLV_SMPLX_DIR (or "
        f"SMPLX_DIR, or pass smplx_path=...) to the folder that holds {filename}."
    )


class SMPLXBodyModel:
    """Batched SMPL-X (neutral, full hand pose, flat hand mean) as Multi-HMR uses it.

    Not an ``nn.Module`` on purpose: its buffers come from the user's licensed file, so they must never end up in a
    saved checkpoint. The ``smplx`` layer is built lazily and cached per device; it always runs in float32."""

    def __init__(self, path: str | os.PathLike | None = None, num_betas: int = 10, num_expression_coeffs: int = 10,
                 gender: str = "neutral"):
        self.file = find_smplx_file(path, gender)
        self.num_betas = num_betas
        self.num_expression_coeffs = num_expression_coeffs
        self.gender = gender
        self._layers: dict[str, torch.nn.Module] = {}

    def layer(self, device) -> torch.nn.Module:
        key = str(torch.device(device))
        if key not in self._layers:
            import smplx

            layer = smplx.create(
                str(self.file), model_type="smplx", gender=self.gender, ext="npz", use_pca=False,
                flat_hand_mean=True, num_betas=self.num_betas, num_expression_coeffs=self.num_expression_coeffs,
            )
            self._layers[key] = layer.to(device=device, dtype=torch.float32).eval()
        return self._layers[key]

    @property
    def faces(self) -> torch.Tensor:
        return torch.as_tensor(self.layer("cpu").faces.astype("int64"))

    @property
    def joint_names(self) -> list[str]:
        from smplx.joint_names import JOINT_NAMES

        return list(JOINT_NAMES[:NUM_SMPLX_JOINTS])

    def __call__(self, rotvec: torch.Tensor, betas: torch.Tensor, expression: torch.Tensor | None = None,
                 global_rotmat: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Pose the body. ``rotvec`` (P, 53, 3) axis-angles (global, body, hands, jaw), ``betas`` (P, num_betas),
        ``expression`` (P, 10). The mesh is built with zero global orientation, then made pelvis-relative and rotated
        by the global rotation (``global_rotmat`` (P, 3, 3) if given, else from ``rotvec[:, 0]``).

        Returns float32 ``vertices`` (P, 10475, 3) and ``joints`` (P, 127, 3), pelvis at the origin."""
        if rotvec.ndim != 3 or rotvec.shape[1:] != (NUM_SMPLX_ROTATIONS, 3):
            raise ValueError(f"rotvec must be (P, {NUM_SMPLX_ROTATIONS}, 3), got {tuple(rotvec.shape)}")
        if betas.ndim != 2 or betas.shape[1] != self.num_betas or betas.shape[0] != rotvec.shape[0]:
            raise ValueError(f"betas must be (P, {self.num_betas}) with P = {rotvec.shape[0]}, "
                             f"got {tuple(betas.shape)}")
        layer = self.layer(rotvec.device)
        n = rotvec.shape[0]
        rotvec = rotvec.float()
        zeros = rotvec.new_zeros(n, 3)
        if expression is None:
            expression = rotvec.new_zeros(n, self.num_expression_coeffs)
        output = layer(
            betas=betas.float(), global_orient=zeros, body_pose=rotvec[:, 1:22].flatten(1),
            left_hand_pose=rotvec[:, 22:37].flatten(1), right_hand_pose=rotvec[:, 37:52].flatten(1),
            jaw_pose=rotvec[:, 52].contiguous(), leye_pose=zeros, reye_pose=zeros, expression=expression.float(),
        )
        rot = rotvec_to_rotmat(rotvec[:, 0]) if global_rotmat is None else global_rotmat.float()
        pelvis = output.joints[:, :1]
        joints = (rot[:, None] @ (output.joints - pelvis)[..., None])[..., 0]
        vertices = (rot[:, None] @ (output.vertices - pelvis)[..., None])[..., 0]
        return {"vertices": vertices, "joints": joints}
