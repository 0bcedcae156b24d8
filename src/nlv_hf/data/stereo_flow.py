"""Procedural image pairs with exact optical-flow or disparity ground truth (no downloads).

A scene is a stack of textured layers, back to front: a background that fills the frame and a few shapes (ellipses,
rotated rectangles and star-shaped blobs). Each layer carries an analytic texture (a sum of sinusoids in its own
coordinates) and one affine map per frame from layer coordinates to pixel coordinates, so both images are rendered
exactly at any real-valued point and the ground truth needs no interpolation:

* **flow** (in the spirit of FlyingChairs): every layer moves by its own similarity transform (translation, rotation,
  scale) about its centre; the flow at pixel p of image 1 is ``T2(T1⁻¹(p)) - p`` for the layer seen at p.
* **stereo** (rectified, fronto-parallel layers): layer l has one disparity ``d_l`` and layers are stacked by
  disparity, so nearer layers hide farther ones in both views. The right image shows, at ``(x, y)``, the layer point
  that the left image shows at ``(x + d_l, y)``; the disparity at a left pixel is ``d_l`` of the layer seen there.

Pixel ``(row i, column j)`` has its centre at ``x = j, y = i``. ``non_occluded`` is true where the point seen in image 1
is also seen in image 2: the same layer is on top at the corresponding position, which lies inside the frame. On those
pixels, sampling image 2 at ``p + flow(p)`` (or ``(x - d, y)``) reproduces image 1 exactly (``LayeredScene.render``
evaluates the continuous images; a bilinear warp of the pixel grid agrees up to interpolation error).

Everything is vectorised over pixels and layers (numpy, float64) and deterministic for a given seed.
``ProceduralFlowDataset`` / ``ProceduralStereoDataset`` yield ``pixel_values`` and ``pixel_values_2`` (float32 3×H×W in
[0, 1], or uint8 0-255 with ``image_dtype="uint8"``; **not** normalised, so apply the model's image processor or
ImageNet mean/std yourself) and ``labels`` (flow 2×H×W or disparity 1×H×W, float32; ``+inf`` where invalid, the
upstream CroCo-Stereo/Flow convention; the generated ground truth is dense, so labels are finite unless
``mark_occluded_invalid=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = [
    "LayeredScene",
    "ProceduralFlowDataset",
    "ProceduralStereoDataset",
    "make_flow_pair",
    "make_flow_scene",
    "make_stereo_pair",
    "make_stereo_scene",
    "render_pair",
]

BACKGROUND, ELLIPSE, RECTANGLE, BLOB = 0, 1, 2, 3
_NUM_WAVES = 6
_NUM_HARMONICS = 3


@dataclass
class LayeredScene:
    """Parameters of ``L`` layers, back to front (layer 0 is the background).

    ``matrix[f]``/``offset[f]`` (``2×L×2×2`` / ``2×L×2``) map layer coordinates to pixel coordinates ``(x, y)`` in frame
    ``f`` (0: image 1, 1: image 2). ``disparity`` is set for stereo scenes (``L``), else ``None``.
    """

    kind: np.ndarray  # L, int
    half_size: np.ndarray  # L×2
    harmonics: np.ndarray  # L×K×2 (amplitude, phase) of the blob radius
    matrix: np.ndarray  # 2×L×2×2
    offset: np.ndarray  # 2×L×2
    base_color: np.ndarray  # L×3
    wave_freq: np.ndarray  # L×M×2 (radians per layer unit)
    wave_phase: np.ndarray  # L×M
    wave_amp: np.ndarray  # L×M×3
    disparity: np.ndarray | None = None

    @property
    def num_layers(self) -> int:
        return int(self.kind.shape[0])

    def to_layer(self, frame: int, points: np.ndarray) -> np.ndarray:
        """Pixel points ``N×2`` of ``frame`` → layer coordinates ``L×N×2``."""
        inverse = np.linalg.inv(self.matrix[frame])  # L×2×2
        dx = points[None, :, 0] - self.offset[frame][:, 0, None]
        dy = points[None, :, 1] - self.offset[frame][:, 1, None]
        return np.stack([inverse[:, 0, 0, None] * dx + inverse[:, 0, 1, None] * dy,
                         inverse[:, 1, 0, None] * dx + inverse[:, 1, 1, None] * dy], -1)

    def from_layer(self, frame: int, local: np.ndarray) -> np.ndarray:
        """Layer coordinates ``L×N×2`` → pixel points ``L×N×2`` of ``frame``."""
        m, t = self.matrix[frame], self.offset[frame]
        u, v = local[..., 0], local[..., 1]
        return np.stack([m[:, 0, 0, None] * u + m[:, 0, 1, None] * v + t[:, 0, None],
                         m[:, 1, 0, None] * u + m[:, 1, 1, None] * v + t[:, 1, None]], -1)

    def inside(self, local: np.ndarray) -> np.ndarray:
        """``L×N`` membership of layer coordinates in each layer's shape."""
        inside = np.ones(local.shape[:2], dtype=bool)  # the background covers everything
        for kind in (ELLIPSE, RECTANGLE, BLOB):  # three vectorised cases, each over all layers of that kind
            rows = np.flatnonzero(self.kind == kind)
            if rows.size == 0:
                continue
            u, v = local[rows, :, 0], local[rows, :, 1]
            a, b = self.half_size[rows, 0, None], self.half_size[rows, 1, None]
            if kind == ELLIPSE:
                inside[rows] = (u / a) ** 2 + (v / b) ** 2 <= 1.0
            elif kind == RECTANGLE:
                inside[rows] = (np.abs(u) <= a) & (np.abs(v) <= b)
            else:
                theta = np.arctan2(v, u)
                wobble = np.zeros_like(theta)
                for k in range(self.harmonics.shape[1]):
                    amplitude, phase = self.harmonics[rows, k, 0, None], self.harmonics[rows, k, 1, None]
                    wobble += amplitude * np.cos((k + 1) * theta + phase)
                inside[rows] = u * u + v * v <= (a * (1.0 + wobble)) ** 2
        return inside

    def top_layer(self, frame: int, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the front-most layer at each point (``N``) and all layer coordinates (``L×N×2``)."""
        local = self.to_layer(frame, points)
        inside = self.inside(local)
        top = self.num_layers - 1 - np.argmax(inside[::-1], axis=0)  # the background always covers
        return top, local

    def render(self, frame: int, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Colour (``N×3`` float64 in [0, 1]) and layer index (``N``) of ``frame`` at real-valued pixel points ``N×2``."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        top, local = self.top_layer(frame, points)
        picked = local[top, np.arange(points.shape[0])]  # N×2
        freq = self.wave_freq[top]  # N×M×2
        waves = np.sin(freq[..., 0] * picked[:, 0, None] + freq[..., 1] * picked[:, 1, None] + self.wave_phase[top])
        amp = self.wave_amp[top]  # N×M×3
        color = self.base_color[top] + (waves[..., None] * amp).sum(1)
        return np.clip(color, 0.0, 1.0), top

    def correspondence(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For image-1 points ``N×2``: the position ``N×2`` of the same scene point in image 2, and whether it is seen
        there (same layer on top, inside ``[0, W-1]×[0, H-1]`` is checked by the caller)."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        top, local = self.top_layer(0, points)
        if self.disparity is not None:  # rectified stereo: a purely horizontal shift, exact in floating point
            target = points - np.stack([self.disparity[top], np.zeros(top.shape)], -1)
        else:
            target = self.from_layer(1, local)[top, np.arange(points.shape[0])]
        top_2, _ = self.top_layer(1, target)
        return target, top_2 == top


def _check_size(height, width) -> None:
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 8 <= value <= 8192:
            raise ValueError(f"{name} must be an integer in [8, 8192], got {value!r}")


def _check_range(name, value, low_bound: int = 0) -> tuple[int, int]:
    low, high = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if not (low_bound <= low <= high <= 64):
        raise ValueError(f"{name} must be an integer or a (min, max) pair with {low_bound} <= min <= max <= 64, "
                         f"got {value!r}")
    return int(low), int(high)


def _rotation(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def _random_layers(rng: np.random.Generator, height: int, width: int, num_objects) -> dict:
    low, high = _check_range("num_objects", num_objects)
    count = 1 + int(rng.integers(low, high + 1))
    side = min(height, width)
    kind = np.concatenate([[BACKGROUND], rng.integers(ELLIPSE, BLOB + 1, size=count - 1)])
    half_size = rng.uniform(0.08, 0.3, size=(count, 2)) * side
    half_size[0] = (height, width)
    harmonics = np.stack([rng.uniform(0.0, 0.4 / _NUM_HARMONICS, (count, _NUM_HARMONICS)),
                          rng.uniform(0, 2 * np.pi, (count, _NUM_HARMONICS))], -1)
    angle = rng.uniform(-np.pi, np.pi, count)
    angle[0] = rng.uniform(-0.2, 0.2)
    centre = np.stack([rng.uniform(-0.1, 1.1, count) * (width - 1), rng.uniform(-0.1, 1.1, count) * (height - 1)], -1)
    centre[0] = ((width - 1) / 2, (height - 1) / 2)
    # Texture: base colour plus waves whose amplitudes sum to at most 0.3 per channel, so no clipping happens.
    base_color = rng.uniform(0.3, 0.7, (count, 3))
    magnitude = rng.uniform(0.05, 0.5, (count, _NUM_WAVES))  # radians per pixel, below Nyquist after motion
    direction = rng.uniform(-np.pi, np.pi, (count, _NUM_WAVES))
    wave_freq = magnitude[..., None] * np.stack([np.cos(direction), np.sin(direction)], -1)
    wave_amp = rng.uniform(-1, 1, (count, _NUM_WAVES, 3))
    wave_amp *= 0.3 / np.abs(wave_amp).sum(1, keepdims=True)
    return dict(kind=kind, half_size=half_size, harmonics=harmonics, angle=angle, centre=centre,
                base_color=base_color, wave_freq=wave_freq, wave_phase=rng.uniform(0, 2 * np.pi, (count, _NUM_WAVES)),
                wave_amp=wave_amp)


def _scene(params: dict, matrix: np.ndarray, offset: np.ndarray, disparity=None) -> LayeredScene:
    return LayeredScene(kind=params["kind"], half_size=params["half_size"], harmonics=params["harmonics"],
                        matrix=matrix, offset=offset, base_color=params["base_color"], wave_freq=params["wave_freq"],
                        wave_phase=params["wave_phase"], wave_amp=params["wave_amp"], disparity=disparity)


def make_flow_scene(height: int, width: int, seed: int = 0, num_objects=(3, 8), max_motion: float = 12.0,
                    max_rotation: float = 0.15, max_zoom: float = 0.1) -> LayeredScene:
    """A random flow scene: each layer moves by a similarity transform about its centre (translation up to
    ``max_motion`` pixels per axis, rotation up to ``max_rotation`` radians, log-scale up to ``max_zoom``); the
    background moves half as much."""
    _check_size(height, width)
    for name, value in (("max_motion", max_motion), ("max_rotation", max_rotation), ("max_zoom", max_zoom)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    rng = np.random.default_rng(seed)
    params = _random_layers(rng, height, width, num_objects)
    count = params["kind"].shape[0]
    damp = np.where(np.arange(count) == 0, 0.5, 1.0)
    shift = rng.uniform(-max_motion, max_motion, (count, 2)) * damp[:, None]
    turn = rng.uniform(-max_rotation, max_rotation, count) * damp
    zoom = np.exp(rng.uniform(-max_zoom, max_zoom, count) * damp)
    first = _rotation(params["angle"])
    second = zoom[:, None, None] * _rotation(turn) @ first
    matrix = np.stack([first, second])
    offset = np.stack([params["centre"], params["centre"] + shift])
    return _scene(params, matrix, offset)


def make_stereo_scene(height: int, width: int, seed: int = 0, num_objects=(3, 8), max_disparity: float = 32.0,
                      min_disparity: float = 1.0) -> LayeredScene:
    """A random rectified stereo scene of fronto-parallel layers with disparities in
    ``[min_disparity, max_disparity]``, sorted so that nearer (larger-disparity) layers are in front."""
    _check_size(height, width)
    if not (np.isfinite(min_disparity) and np.isfinite(max_disparity) and 0 <= min_disparity < max_disparity):
        raise ValueError(f"need 0 <= min_disparity < max_disparity (finite), got {min_disparity!r}, {max_disparity!r}")
    rng = np.random.default_rng(seed)
    params = _random_layers(rng, height, width, num_objects)
    count = params["kind"].shape[0]
    disparity = np.sort(rng.uniform(min_disparity, max_disparity, count))
    first = _rotation(params["angle"])
    matrix = np.stack([first, first])
    offset = np.stack([params["centre"], params["centre"] - np.stack([disparity, np.zeros(count)], -1)])
    return _scene(params, matrix, offset, disparity=disparity)


def render_pair(scene: LayeredScene, height: int, width: int) -> dict:
    """Render both images and the ground truth on the pixel grid.

    Returns numpy arrays: ``image_1``, ``image_2`` (``H×W×3`` float32 in [0, 1]), ``flow`` (``H×W×2`` float32),
    ``disparity`` (``H×W`` float32, stereo scenes only) and ``non_occluded`` (``H×W`` bool).
    """
    _check_size(height, width)
    ys, xs = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    grid = np.stack([xs.ravel(), ys.ravel()], -1)
    image_1, layer_1 = scene.render(0, grid)
    image_2, _ = scene.render(1, grid)
    target, same_layer = scene.correspondence(grid)
    in_frame = (target[:, 0] >= 0) & (target[:, 0] <= width - 1) & (target[:, 1] >= 0) & (target[:, 1] <= height - 1)
    out = {
        "image_1": image_1.reshape(height, width, 3).astype(np.float32),
        "image_2": image_2.reshape(height, width, 3).astype(np.float32),
        "flow": (target - grid).reshape(height, width, 2).astype(np.float32),
        "non_occluded": (same_layer & in_frame).reshape(height, width),
    }
    if scene.disparity is not None:
        out["disparity"] = scene.disparity[layer_1].reshape(height, width).astype(np.float32)
    return out


def make_flow_pair(height: int, width: int, seed: int = 0, **kwargs) -> dict:
    """``render_pair(make_flow_scene(height, width, seed, **kwargs), height, width)``."""
    return render_pair(make_flow_scene(height, width, seed, **kwargs), height, width)


def make_stereo_pair(height: int, width: int, seed: int = 0, **kwargs) -> dict:
    """``render_pair(make_stereo_scene(height, width, seed, **kwargs), height, width)`` (image 1 is the left view)."""
    return render_pair(make_stereo_scene(height, width, seed, **kwargs), height, width)


class _ProceduralPairs(Dataset):
    _task = ""

    def __init__(self, num_samples: int = 1000, height: int = 64, width: int = 96, seed: int = 0,
                 image_dtype: str = "float32", return_non_occluded: bool = False,
                 mark_occluded_invalid: bool = False, **scene_kwargs):
        if not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        if image_dtype not in ("float32", "uint8"):
            raise ValueError(f"image_dtype must be 'float32' (values in [0, 1]) or 'uint8' (0-255), got {image_dtype!r}")
        _check_size(height, width)
        self.num_samples, self.height, self.width, self.seed = int(num_samples), height, width, int(seed)
        self.image_dtype = image_dtype
        self.return_non_occluded = return_non_occluded
        self.mark_occluded_invalid = mark_occluded_invalid
        self.scene_kwargs = scene_kwargs
        self._make_scene(height, width, self._sample_seed(0), **scene_kwargs)  # validate the kwargs now

    def _make_scene(self, height, width, seed, **kwargs) -> LayeredScene:
        raise NotImplementedError

    def _sample_seed(self, index: int) -> int:
        return int(np.random.SeedSequence([self.seed, index]).generate_state(1)[0])

    def __len__(self) -> int:
        return self.num_samples

    def _image(self, image: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous()
        if self.image_dtype == "uint8":
            return torch.round(tensor * 255).to(torch.uint8)
        return tensor

    def __getitem__(self, index: int) -> dict:
        if not -self.num_samples <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        index %= self.num_samples
        scene = self._make_scene(self.height, self.width, self._sample_seed(index), **self.scene_kwargs)
        pair = render_pair(scene, self.height, self.width)
        if self._task == "stereo":
            labels = torch.from_numpy(pair["disparity"])[None]
        else:
            labels = torch.from_numpy(pair["flow"]).permute(2, 0, 1).contiguous()
        non_occluded = torch.from_numpy(pair["non_occluded"])
        if self.mark_occluded_invalid:
            labels = labels.masked_fill(~non_occluded[None], float("inf"))
        sample = {"pixel_values": self._image(pair["image_1"]), "pixel_values_2": self._image(pair["image_2"]),
                  "labels": labels}
        if self.return_non_occluded:
            sample["non_occluded"] = non_occluded
        return sample


class ProceduralFlowDataset(_ProceduralPairs):
    """``num_samples`` flow pairs; sample ``i`` is the same for the same ``seed`` (keyword arguments of
    ``make_flow_scene`` such as ``max_motion`` are passed through). ``labels`` is float32 ``2×H×W``."""

    _task = "flow"

    def _make_scene(self, height, width, seed, **kwargs) -> LayeredScene:
        return make_flow_scene(height, width, seed, **kwargs)


class ProceduralStereoDataset(_ProceduralPairs):
    """``num_samples`` rectified stereo pairs (``pixel_values`` = left); ``labels`` is float32 ``1×H×W`` disparity
    (keyword arguments of ``make_stereo_scene`` such as ``max_disparity`` are passed through)."""

    _task = "stereo"

    def _make_scene(self, height, width, seed, **kwargs) -> LayeredScene:
        return make_stereo_scene(height, width, seed, **kwargs)
