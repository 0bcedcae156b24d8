"""Body models (SMPL-X via ``smplx``, Anny via ``anny``), rotation and camera utilities, mesh rendering (``render``) and
export (``mesh_io``).

Importing this package is cheap: ``smplx`` and ``anny`` are imported only when a body model is first built.
"""

from .camera import focal_from_fov, intrinsics_from_fov, inverse_perspective_projection, perspective_projection
from .rotations import (
    rot6d_to_rotmat,
    rotation_to_homogeneous,
    rotmat_to_rot6d,
    rotmat_to_rotvec,
    rotmat_to_unitquat,
    rotvec_to_rotmat,
    special_gramschmidt,
    unitquat_to_rotvec,
)

__all__ = [
    "AnnyBodyModel", "BodyModelFilesNotFoundError", "SMPLXBodyModel", "find_smplx_file", "focal_from_fov",
    "intrinsics_from_fov", "inverse_perspective_projection", "perspective_projection", "rot6d_to_rotmat",
    "rotation_to_homogeneous", "rotmat_to_rot6d", "rotmat_to_rotvec", "rotmat_to_unitquat", "rotvec_to_rotmat",
    "special_gramschmidt", "unitquat_to_rotvec",
]


def __getattr__(name):  # lazy: the wrappers import their packages only when used
    if name in ("SMPLXBodyModel", "BodyModelFilesNotFoundError", "find_smplx_file"):
        from . import smplx_model

        return getattr(smplx_model, name)
    if name == "AnnyBodyModel":
        from .anny_model import AnnyBodyModel

        return AnnyBodyModel
    raise AttributeError(name)
