"""A synthetic (random) SMPL-X model file for tests and offline demos -- NOT the licensed SMPL-X model.

The arrays have the shapes ``smplx.SMPLX(ext="npz")`` reads (V=10475, F=20908, 55 joints, 400 shape+expression
directions, 486 pose directions) and random values from a fixed numpy seed, so the file is identical on every machine
(the golden fixtures in ``shared/fixtures/multi_hmr`` were made with it; their ``upstream.json`` holds the per-array
checksums). Vertices are small (std 5 cm) so that meshes stay in front of the camera.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

# SMPL-X kinematic tree: parent of each of the 55 joints (parents come first).
SMPLX_PARENTS = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)
NUM_VERTICES, NUM_FACES, NUM_JOINTS, NUM_SHAPE_DIRS, NUM_POSE_DIRS = 10475, 20908, 55, 400, 486


def make_smplx_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays of ``SMPLX_NEUTRAL.npz``. The order of the random draws defines the file: do not reorder."""
    rng = np.random.default_rng(seed)
    v, f, j = NUM_VERTICES, NUM_FACES, NUM_JOINTS
    out = {
        "v_template": rng.normal(0.0, 0.05, (v, 3)).astype(np.float32),
        "f": rng.integers(0, v, (f, 3)).astype(np.int64),
        "shapedirs": rng.normal(0.0, 0.002, (v, 3, NUM_SHAPE_DIRS)).astype(np.float32),
        "posedirs": rng.normal(0.0, 0.0002, (v, 3, NUM_POSE_DIRS)).astype(np.float32),
    }
    regressor = np.zeros((j, v), dtype=np.float32)
    for joint in range(j):  # each joint is the mean of 8 random vertices
        regressor[joint, rng.choice(v, 8, replace=False)] = 1.0 / 8.0
    out["J_regressor"] = regressor
    out["kintree_table"] = np.stack([np.array(SMPLX_PARENTS, dtype=np.int64), np.arange(j, dtype=np.int64)])
    joint_ids = rng.integers(0, j, (v, 4))
    joint_weights = rng.dirichlet(np.ones(4), v)
    weights = np.zeros((v, j), dtype=np.float64)
    np.add.at(weights, (np.repeat(np.arange(v), 4), joint_ids.reshape(-1)), joint_weights.reshape(-1))
    out["weights"] = weights.astype(np.float32)
    out["hands_componentsl"] = rng.normal(0.0, 1.0, (45, 45)).astype(np.float32)
    out["hands_componentsr"] = rng.normal(0.0, 1.0, (45, 45)).astype(np.float32)
    out["hands_meanl"] = rng.normal(0.0, 0.1, (45,)).astype(np.float32)
    out["hands_meanr"] = rng.normal(0.0, 0.1, (45,)).astype(np.float32)
    out["lmk_faces_idx"] = rng.integers(0, f, (51,)).astype(np.int64)
    out["lmk_bary_coords"] = rng.dirichlet(np.ones(3), 51).astype(np.float32)
    out["dynamic_lmk_faces_idx"] = rng.integers(0, f, (79, 17)).astype(np.int64)
    out["dynamic_lmk_bary_coords"] = rng.dirichlet(np.ones(3), (79, 17)).astype(np.float32)
    return out


def make_mean_params_arrays(seed: int = 1) -> dict[str, np.ndarray]:
    """A random ``smpl_mean_params.npz`` (SPIN layout: pose 24x6D, shape 10, cam 3)."""
    rng = np.random.default_rng(seed)
    return {
        "pose": rng.normal(0.0, 0.5, (144,)).astype(np.float32),
        "shape": rng.normal(0.0, 0.5, (10,)).astype(np.float32),
        "cam": rng.normal(0.0, 0.5, (3,)).astype(np.float32),
    }


def digest(arrays: dict[str, np.ndarray]) -> dict[str, dict]:
    """shape, dtype, float64 sum and sha256 of the raw bytes of each array."""
    return {
        k: {"shape": list(v.shape), "dtype": str(v.dtype), "sum": float(np.asarray(v, dtype=np.float64).sum()),
            "sha256": hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()}
        for k, v in arrays.items()
    }


def write_synthetic_smplx(folder: str | os.PathLike, seed: int = 0) -> Path:
    """Write ``folder/SMPLX_NEUTRAL.npz`` (uncompressed, ~117 MB, under a second) and return its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "SMPLX_NEUTRAL.npz"
    np.savez(path, **make_smplx_arrays(seed))
    return path
