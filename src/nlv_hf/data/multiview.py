"""Procedural multi-view image pairs: a small textured room with boxes and panels, seen from two known cameras.

Everything is drawn by a vectorised ray caster in numpy (no loops over pixels): a pinhole camera (OpenCV
convention: x right, y down, z forward) shoots one ray per (super-sampled) pixel, each ray is intersected with every
rectangle of the scene at once, the nearest hit wins, and its colour comes from a procedural texture evaluated in the
rectangle's own metric (u, v) coordinates. Shading depends only on the surface (not on the viewer), so a surface point
has the same colour in both views: the pair has exact ground truth (depth, intrinsics, poses) for cross-view tasks.

The world is y-up. The room spans x in [-4, 4], y in [0, 3], z in [-5, 5]; the cameras stand near z = -3 and look
towards +z. A scene and its two cameras are a pure function of the seed (an int or a tuple of ints, fed to
``numpy.random.default_rng``), so ``render_pair(seed, size)`` is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch.utils.data

ROOM_X, ROOM_Y, ROOM_Z = 4.0, 3.0, 5.0
LATTICE = 8  # colour lattice cells per texture (value noise), wrapped
_MAX_SIDE = 2048


@dataclass
class MultiViewPair:
    """One rendered pair with its geometry.

    image_1 / image_2: H×W×3 uint8. depth_1 / depth_2: H×W float32 z-depth in world units (inf where no surface).
    intrinsics: 3×3 float64 pinhole matrix shared by both views (pixel centres at integer + 0.5).
    pose_1 / pose_2: 4×4 float64 camera-to-world matrices (OpenCV camera axes).
    """

    image_1: np.ndarray
    image_2: np.ndarray
    depth_1: np.ndarray
    depth_2: np.ndarray
    intrinsics: np.ndarray
    pose_1: np.ndarray
    pose_2: np.ndarray


@dataclass
class _Scene:
    origin: np.ndarray      # Q×3 corner of each rectangle
    edge_u: np.ndarray      # Q×3 first edge (the rectangle is origin + s·edge_u + t·edge_v, s, t in [0, 1])
    edge_v: np.ndarray      # Q×3 second edge, orthogonal to edge_u
    lattice: np.ndarray     # Q×L×L×3 colours of the value-noise lattice, in [0, 1]
    cells_per_unit: np.ndarray  # Q noise lattice frequency (cells per world unit)
    checker_freq: np.ndarray    # Q checker squares per world unit
    checker_amp: np.ndarray     # Q checker darkening in [0, 1)
    stripe_freq: np.ndarray     # Q stripes per world unit
    stripe_angle: np.ndarray    # Q stripe direction (radians)
    stripe_amp: np.ndarray      # Q stripe amplitude
    shade: np.ndarray           # Q view-independent Lambert factor


def _as_size(size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)):
        raise ValueError(f"size must be an int or a (height, width) pair of ints, got {size!r}")
    height, width = int(size[0]), int(size[1])
    if not (8 <= height <= _MAX_SIDE and 8 <= width <= _MAX_SIDE):
        raise ValueError(f"size must be between 8 and {_MAX_SIDE} pixels per side, got {height}x{width}")
    return height, width


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    if (isinstance(seed, (tuple, list)) and len(seed) > 0
            and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in seed)):
        return np.random.default_rng([int(s) for s in seed])
    raise ValueError(f"seed must be a non-negative int or a non-empty tuple of non-negative ints, got {seed!r}")


# ------------------------------------------------------------------------------------------------------ scene
def _box_faces(center, half, angle):
    """The 6 outward-facing rectangles of a box standing on the floor, rotated by ``angle`` about the y axis."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    ax, ay, az = rot[:, 0] * half[0], rot[:, 1] * half[1], rot[:, 2] * half[2]
    faces = []
    for axis, e1, e2 in ((ax, ay, az), (ay, az, ax), (az, ax, ay)):
        for sign in (1.0, -1.0):
            # the face centred on ±axis, spanned by the two other (doubled) half-axes
            u, v = (2 * e1, 2 * e2) if sign > 0 else (2 * e2, 2 * e1)
            faces.append((center + sign * axis - u / 2 - v / 2, u, v))
    return faces


def _make_scene(rng: np.random.Generator) -> _Scene:
    rects = [
        (np.array([-ROOM_X, 0.0, -ROOM_Z]), np.array([0.0, 0.0, 2 * ROOM_Z]), np.array([2 * ROOM_X, 0.0, 0.0])),  # floor
        (np.array([-ROOM_X, ROOM_Y, -ROOM_Z]), np.array([2 * ROOM_X, 0.0, 0.0]), np.array([0.0, 0.0, 2 * ROOM_Z])),  # ceiling
        (np.array([-ROOM_X, 0.0, ROOM_Z]), np.array([2 * ROOM_X, 0.0, 0.0]), np.array([0.0, ROOM_Y, 0.0])),  # back wall
        (np.array([-ROOM_X, 0.0, -ROOM_Z]), np.array([0.0, 0.0, 2 * ROOM_Z]), np.array([0.0, ROOM_Y, 0.0])),  # left
        (np.array([ROOM_X, 0.0, -ROOM_Z]), np.array([0.0, ROOM_Y, 0.0]), np.array([0.0, 0.0, 2 * ROOM_Z])),  # right
    ]
    for _ in range(rng.integers(2, 5)):  # boxes on the floor
        half = rng.uniform([0.25, 0.2, 0.25], [0.7, 0.8, 0.7])
        center = np.array([rng.uniform(-2.5, 2.5), half[1], rng.uniform(-0.5, 3.5)])
        rects.extend(_box_faces(center, half, rng.uniform(0, np.pi)))
    for _ in range(rng.integers(1, 3)):  # free-standing tilted panels
        width, height = rng.uniform(0.6, 1.6), rng.uniform(0.5, 1.2)
        yaw, tilt = rng.uniform(-0.8, 0.8), rng.uniform(-0.4, 0.4)
        u = np.array([np.cos(yaw), 0.0, np.sin(yaw)]) * width
        v = np.array([-np.sin(yaw) * np.sin(tilt), np.cos(tilt), np.cos(yaw) * np.sin(tilt)]) * height
        corner = np.array([rng.uniform(-2.5, 1.5), rng.uniform(0.2, 1.4), rng.uniform(0.5, 4.0)])
        rects.append((corner, u, v))
    origin = np.stack([r[0] for r in rects])
    edge_u = np.stack([r[1] for r in rects])
    edge_v = np.stack([r[2] for r in rects])
    q = len(rects)

    # textures: a saturated palette per surface, mixed on a wrapped value-noise lattice
    base = rng.uniform(0.1, 0.9, size=(q, 1, 1, 3))
    accent = rng.uniform(0.0, 1.0, size=(q, 1, 1, 3))
    mix = rng.uniform(0.0, 1.0, size=(q, LATTICE, LATTICE, 1)) ** 2
    lattice = (1 - mix) * base + mix * accent + rng.normal(0, 0.05, size=(q, LATTICE, LATTICE, 3))
    normal = np.cross(edge_u, edge_v)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    light = np.array([0.35, 0.8, -0.5])
    light /= np.linalg.norm(light)
    return _Scene(
        origin=origin, edge_u=edge_u, edge_v=edge_v, lattice=np.clip(lattice, 0.0, 1.0),
        cells_per_unit=rng.uniform(0.8, 3.0, size=q),
        checker_freq=rng.uniform(0.8, 3.0, size=q),
        checker_amp=rng.uniform(0.0, 0.6, size=q) * (rng.uniform(size=q) < 0.6),
        stripe_freq=rng.uniform(1.0, 5.0, size=q),
        stripe_angle=rng.uniform(0, np.pi, size=q),
        stripe_amp=rng.uniform(0.0, 0.35, size=q) * (rng.uniform(size=q) < 0.5),
        shade=0.55 + 0.45 * np.abs(normal @ light),
    )


# ------------------------------------------------------------------------------------------------------ cameras
def look_at(position: np.ndarray, target: np.ndarray, up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """4×4 camera-to-world matrix of an OpenCV camera (x right, y down, z forward) at ``position`` looking at
    ``target`` in a y-up world."""
    forward = np.asarray(target, float) - np.asarray(position, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, float))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = position
    return pose


def pinhole_intrinsics(height: int, width: int, fov_deg: float = 60.0) -> np.ndarray:
    """3×3 intrinsics with horizontal field of view ``fov_deg`` and the principal point at the image centre."""
    focal = 0.5 * width / np.tan(np.deg2rad(fov_deg) / 2)
    return np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def _make_cameras(rng: np.random.Generator, max_baseline: float):
    pos_1 = np.array([rng.uniform(-1.2, 1.2), rng.uniform(0.9, 1.8), rng.uniform(-3.5, -2.0)])
    target_1 = np.array([rng.uniform(-1.0, 1.0), rng.uniform(0.3, 1.0), rng.uniform(1.0, 2.5)])
    direction = rng.normal(size=3) * np.array([1.0, 0.35, 0.6])
    baseline = rng.uniform(0.3, 1.0) * max_baseline
    pos_2 = pos_1 + baseline * direction / np.linalg.norm(direction)
    target_2 = target_1 + rng.uniform(-0.4, 0.4, size=3) * np.array([1.0, 0.5, 1.0])
    return look_at(pos_1, target_1), look_at(pos_2, target_2)


# ------------------------------------------------------------------------------------------------------ rendering
def _render(scene: _Scene, pose: np.ndarray, intrinsics: np.ndarray, height: int, width: int, supersample: int):
    """Ray-cast one view. Returns (H×W×3 float image in [0, 1], H×W z-depth)."""
    ss = supersample
    ys, xs = np.meshgrid((np.arange(height * ss) + 0.5) / ss, (np.arange(width * ss) + 0.5) / ss, indexing="ij")
    pix = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)], axis=0)           # 3×P
    rays_cam = np.linalg.solve(intrinsics, pix)                                   # z = 1: t is the z-depth
    rays = (pose[:3, :3] @ rays_cam).T                                            # P×3 world directions
    center = pose[:3, 3]

    normal = np.cross(scene.edge_u, scene.edge_v)                                 # Q×3 (unnormalised)
    denom = rays @ normal.T                                                       # P×Q
    numer = ((scene.origin - center) * normal).sum(axis=1)                        # Q
    with np.errstate(divide="ignore", invalid="ignore"):
        t = numer[None, :] / denom
    # (centre + t·ray − origin)·edge / |edge|², without forming the P×Q×3 points
    offset = center[None, :] - scene.origin                                       # Q×3
    su = ((offset * scene.edge_u).sum(1) + t * (rays @ scene.edge_u.T)) / (scene.edge_u ** 2).sum(1)
    sv = ((offset * scene.edge_v).sum(1) + t * (rays @ scene.edge_v.T)) / (scene.edge_v ** 2).sum(1)
    valid = (np.abs(denom) > 1e-12) & (t > 1e-4) & (su >= 0) & (su <= 1) & (sv >= 0) & (sv <= 1)
    t = np.where(valid, t, np.inf)
    hit = np.argmin(t, axis=1)                                                    # P
    rows = np.arange(t.shape[0])
    depth = t[rows, hit]
    found = np.isfinite(depth)

    # metric texture coordinates on the winning rectangle
    len_u = np.linalg.norm(scene.edge_u, axis=1)[hit]
    len_v = np.linalg.norm(scene.edge_v, axis=1)[hit]
    mu = np.where(found, su[rows, hit], 0.0) * len_u
    mv = np.where(found, sv[rows, hit], 0.0) * len_v

    # value noise: bilinear lookup in the wrapped colour lattice of the hit rectangle
    freq = scene.cells_per_unit[hit]
    gx, gy = mu * freq, mv * freq
    x0, y0 = np.floor(gx), np.floor(gy)
    fx, fy = (gx - x0)[:, None], (gy - y0)[:, None]
    x0 = x0.astype(np.int64) % LATTICE
    y0 = y0.astype(np.int64) % LATTICE
    x1, y1 = (x0 + 1) % LATTICE, (y0 + 1) % LATTICE
    lat = scene.lattice
    colour = ((1 - fx) * (1 - fy) * lat[hit, y0, x0] + fx * (1 - fy) * lat[hit, y0, x1]
              + (1 - fx) * fy * lat[hit, y1, x0] + fx * fy * lat[hit, y1, x1])

    checker = (np.floor(mu * scene.checker_freq[hit]) + np.floor(mv * scene.checker_freq[hit])) % 2
    colour = colour * (1 - scene.checker_amp[hit] * checker)[:, None]
    angle = scene.stripe_angle[hit]
    phase = 2 * np.pi * scene.stripe_freq[hit] * (mu * np.cos(angle) + mv * np.sin(angle))
    colour = colour + (scene.stripe_amp[hit] * np.sin(phase))[:, None] * 0.5
    colour = np.clip(colour * scene.shade[hit][:, None], 0.0, 1.0)
    colour[~found] = 0.5

    image = colour.reshape(height, ss, width, ss, 3).mean(axis=(1, 3))
    # depth at the pixel centre sample (odd supersampling) or the first sub-sample
    depth_px = depth.reshape(height, ss, width, ss)[:, ss // 2, :, ss // 2]
    return image, depth_px.astype(np.float32)


def render_multiview_pair(seed=0, size=128, supersample: int = 2, fov_deg: float = 60.0,
                          max_baseline: float = 1.0) -> MultiViewPair:
    """Render the scene of ``seed`` from its two cameras at ``size`` (int or (height, width)).

    ``supersample`` (1–4) anti-aliases with that many samples per pixel side; ``max_baseline`` scales the distance
    between the two cameras (world units, the room is 8 wide). Deterministic for a given set of arguments."""
    height, width = _as_size(size)
    if not (isinstance(supersample, int) and 1 <= supersample <= 4):
        raise ValueError(f"supersample must be an int in [1, 4], got {supersample!r}")
    if not (10.0 <= float(fov_deg) <= 120.0):
        raise ValueError(f"fov_deg must be in [10, 120] degrees, got {fov_deg!r}")
    if not (0.0 < float(max_baseline) <= 3.0):
        raise ValueError(f"max_baseline must be in (0, 3] world units, got {max_baseline!r}")
    rng = _rng(seed)
    scene = _make_scene(rng)
    pose_1, pose_2 = _make_cameras(rng, float(max_baseline))
    intrinsics = pinhole_intrinsics(height, width, fov_deg)
    image_1, depth_1 = _render(scene, pose_1, intrinsics, height, width, supersample)
    image_2, depth_2 = _render(scene, pose_2, intrinsics, height, width, supersample)
    to_uint8 = lambda im: np.round(im * 255.0).astype(np.uint8)  # noqa: E731
    return MultiViewPair(to_uint8(image_1), to_uint8(image_2), depth_1, depth_2, intrinsics, pose_1, pose_2)


def render_pair(seed=0, size=128, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """The two H×W×3 uint8 views of the procedural scene ``seed`` (see :func:`render_multiview_pair`)."""
    pair = render_multiview_pair(seed, size, **kwargs)
    return pair.image_1, pair.image_2


def reproject(depth_1: np.ndarray, intrinsics: np.ndarray, pose_1: np.ndarray, pose_2: np.ndarray):
    """Where every pixel of view 1 lands in view 2: returns (H×W×2 pixel coordinates (x, y) in view 2, H×W z-depth
    in view 2). Pixels with infinite depth map to NaN."""
    height, width = depth_1.shape
    ys, xs = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    pix = np.stack([xs, ys, np.ones_like(xs)], axis=-1).reshape(-1, 3).T
    depth = np.where(np.isfinite(depth_1), depth_1, np.nan).reshape(-1).astype(np.float64)
    cam_1 = np.linalg.solve(intrinsics, pix) * depth
    world = pose_1[:3, :3] @ cam_1 + pose_1[:3, 3:4]
    cam_2 = pose_2[:3, :3].T @ (world - pose_2[:3, 3:4])
    proj = intrinsics @ cam_2
    coords = (proj[:2] / proj[2:3]).T.reshape(height, width, 2)
    return coords, cam_2[2].reshape(height, width)


def write_example_pairs(out_dir, seeds, size=128, render_size=None, prefix: str = "procedural") -> list:
    """Render the scenes ``seeds`` and write ``<prefix>_<k>_1.png`` / ``<prefix>_<k>_2.png`` into ``out_dir``.

    With ``render_size`` (> ``size``) each view is rendered larger and centre-cropped to ``size``, the field of view a
    training crop sees. Returns the list of (path_1, path_2)."""
    import PIL.Image
    from pathlib import Path

    height, width = _as_size(size)
    rh, rw = _as_size(render_size) if render_size is not None else (height, width)
    if rh < height or rw < width:
        raise ValueError(f"render_size {rh}x{rw} must be at least size {height}x{width}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    top, left = (rh - height) // 2, (rw - width) // 2
    written = []
    for k, seed in enumerate(seeds):
        paths = []
        for view, image in enumerate(render_pair(seed, (rh, rw)), start=1):
            path = out / f"{prefix}_{k}_{view}.png"
            PIL.Image.fromarray(image[top:top + height, left:left + width]).save(path)
            paths.append(path)
        written.append(tuple(paths))
    return written


class ProceduralPairDataset(torch.utils.data.Dataset):
    """A map-style ``torch.utils.data.Dataset`` of procedural pairs: item ``i`` is the scene with seed
    ``(seed, i)``, so two datasets with different ``seed`` never share a scene (use one seed for training and another
    for held-out evaluation).

    Each item is ``{"image_1": H×W×3 uint8, "image_2": H×W×3 uint8}``, or whatever ``transform(image_1, image_2,
    index)`` returns (e.g. :class:`nlv_hf.data.augment.CroCoPairTransform`). With ``cache=True`` rendered pairs are
    kept in memory (``num_pairs`` × 2 × H × W × 3 bytes) so that later epochs only pay for the transform."""

    def __init__(self, num_pairs: int, size=128, seed: int = 0, transform=None, supersample: int = 2,
                 max_baseline: float = 1.0, cache: bool = False):
        if not isinstance(num_pairs, int) or isinstance(num_pairs, bool) or num_pairs <= 0:
            raise ValueError(f"num_pairs must be a positive int, got {num_pairs!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self.num_pairs = num_pairs
        self.size = _as_size(size)
        self.seed = seed
        self.transform = transform
        self.supersample = supersample
        self.max_baseline = max_baseline
        self._cache = {} if cache else None

    def __len__(self) -> int:
        return self.num_pairs

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        images = render_pair((self.seed, index), self.size, supersample=self.supersample,
                             max_baseline=self.max_baseline)
        if self._cache is not None:
            self._cache[index] = images
        return images

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.transform, "set_epoch"):
            self.transform.set_epoch(epoch)

    def __getitem__(self, index: int):
        if not isinstance(index, (int, np.integer)) or not (-self.num_pairs <= index < self.num_pairs):
            raise IndexError(f"index {index!r} out of range for {self.num_pairs} pairs")
        index = int(index) % self.num_pairs
        image_1, image_2 = self.pair(index)
        if self.transform is None:
            return {"image_1": image_1, "image_2": image_2}
        return self.transform(image_1, image_2, index)


__all__ = ["MultiViewPair", "ProceduralPairDataset", "look_at", "pinhole_intrinsics", "render_multiview_pair",
           "render_pair", "reproject", "write_example_pairs"]
