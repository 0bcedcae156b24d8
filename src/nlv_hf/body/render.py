"""CPU (or any torch device) triangle rasteriser for body meshes: overlays, depth maps and masks.

No OpenGL, no EGL: triangles are rasterised with torch tensor operations, vectorised over (triangle, pixel)
candidate pairs and processed in chunks of bounded size, with a z-buffer resolved by ``scatter_reduce``.

Conventions (the same as Multi-HMR and OpenCV):

* camera space: x right, y down, z forward (metres); a point is visible when ``z > near``;
* a pinhole camera with intrinsics ``K`` (3, 3) maps ``X`` to ``(u, v) = (K X)[:2] / (K X)[2]``;
* continuous pixel coordinates: pixel ``(row r, col c)`` covers ``[c, c+1) x [r, r+1)`` and its centre is
  ``(c + 0.5, r + 0.5)``; a projected point ``(u, v)`` therefore falls in pixel ``(floor(v), floor(u))``.

Triangles with a vertex at or behind the near plane are dropped (no clipping); both faces of a triangle are
drawn (no back-face culling) and shading uses the side facing the camera. When two surfaces are at exactly the
same depth, the triangle with the smaller index wins, so results are deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

__all__ = [
    "DEFAULT_PERSON_COLORS",
    "Fragments",
    "person_colors",
    "project_points",
    "rasterize",
    "render_depth",
    "render_mask",
    "render_overlay",
    "render_people",
    "render_side_view",
]

# Distinct, light colours (RGB in [0, 1]) that read well when shaded and blended over photos.
DEFAULT_PERSON_COLORS = torch.tensor(
    [
        [0.35, 0.62, 0.95],  # blue
        [0.98, 0.60, 0.30],  # orange
        [0.45, 0.85, 0.45],  # green
        [0.95, 0.40, 0.45],  # red
        [0.72, 0.55, 0.95],  # purple
        [0.95, 0.85, 0.35],  # yellow
        [0.40, 0.88, 0.88],  # cyan
        [0.95, 0.55, 0.85],  # pink
        [0.70, 0.70, 0.70],  # grey
        [0.65, 0.50, 0.35],  # brown
    ]
)

_DEFAULT_CHUNK = 1 << 21  # (triangle, pixel) candidate pairs per chunk: ~100 MB of temporaries at most


@dataclass
class Fragments:
    """Per-pixel result of :func:`rasterize` for an image of size (H, W).

    Attributes:
        depth: (H, W) camera-space z of the nearest surface, ``inf`` where nothing is drawn.
        face_index: (H, W) int64 index of the visible triangle in the *concatenated* face list, -1 where empty.
        person_index: (H, W) int64 index of the visible mesh (person), -1 where empty.
        barycentric: (H, W, 3) perspective-correct barycentric coordinates of the pixel centre in that triangle
            (zeros where empty).
    """

    depth: torch.Tensor
    face_index: torch.Tensor
    person_index: torch.Tensor
    barycentric: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """(H, W) bool: True where any mesh is visible."""
        return self.face_index >= 0


# --------------------------------------------------------------------------------------------------------------
# input checks


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
        try:
            return torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be a numeric array, got {type(x).__name__}: {err}") from None
    raise ValueError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}")


def _check_K(K: Any) -> torch.Tensor:
    """Accept a (3, 3) or (1, 3, 3) intrinsics matrix, an object with ``.K`` or a dict with key ``"K"``."""
    if isinstance(K, dict) and "K" in K:
        K = K["K"]
    elif hasattr(K, "K") and not isinstance(K, (torch.Tensor, np.ndarray)):
        K = K.K
    K = _as_tensor(K, "K")
    if K.ndim == 3 and K.shape[0] == 1:
        K = K[0]
    if K.shape != (3, 3):
        raise ValueError(f"K must be a (3, 3) pinhole intrinsics matrix, got shape {tuple(K.shape)}")
    K = K.to(torch.float32)
    if not torch.isfinite(K).all():
        raise ValueError("K contains NaN or inf values")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"K must have positive focal lengths, got fx={K[0, 0].item()} fy={K[1, 1].item()}")
    if not torch.allclose(K[2], K.new_tensor([0.0, 0.0, 1.0])):
        raise ValueError(f"the last row of K must be [0, 0, 1], got {K[2].tolist()}")
    return K


def _check_image_size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    try:
        h, w = (int(s) for s in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be an int or a (height, width) pair, got {image_size!r}") from None
    if h <= 0 or w <= 0 or h > 16384 or w > 16384:
        raise ValueError(f"image_size must be in [1, 16384] on each side, got {(h, w)}")
    return h, w


def _vertices_list(vertices: Any, key: str = "vertices", dim: int = 3) -> list[torch.Tensor]:
    """Normalise people to a list of (V, dim) float tensors.

    Accepts a (V, dim) tensor (one mesh), a (P, V, dim) tensor, a list of (V, dim) tensors/arrays, or a list of
    person dicts with a ``key`` entry (the output of ``post_process_mesh_recovery``).
    """
    if isinstance(vertices, (torch.Tensor, np.ndarray)):
        v = _as_tensor(vertices, key)
        if v.ndim == 2:
            v = v[None]
        if v.ndim != 3 or v.shape[-1] != dim:
            raise ValueError(f"{key} must have shape (V, {dim}) or (P, V, {dim}), got {tuple(v.shape)}")
        items = list(v)
    elif isinstance(vertices, (list, tuple)):
        items = []
        for i, item in enumerate(vertices):
            if isinstance(item, dict):
                if key not in item:
                    raise ValueError(f"person {i} has no '{key}' entry (keys: {sorted(item)})")
                item = item[key]
            v = _as_tensor(item, f"{key} of person {i}")
            if v.ndim != 2 or v.shape[-1] != dim:
                raise ValueError(f"{key} of person {i} must have shape (V, {dim}), got {tuple(v.shape)}")
            items.append(v)
    else:
        raise ValueError(
            f"people/{key} must be a (V, {dim}) or (P, V, {dim}) tensor, a list of (V, {dim}) tensors, or a list of "
            f"person dicts with '{key}'; got {type(vertices).__name__}"
        )
    out = []
    for i, v in enumerate(items):
        if not v.is_floating_point():
            v = v.to(torch.float32)
        if not torch.isfinite(v).all():
            raise ValueError(f"{key} of person {i} contain NaN or inf values")
        out.append(v.to(torch.float32))
    return out


def _check_faces(faces: Any, num_vertices: int) -> torch.Tensor:
    f = _as_tensor(faces, "faces")
    if f.ndim != 2 or f.shape[-1] != 3:
        raise ValueError(f"faces must be an integer (F, 3) triangle array, got shape {tuple(f.shape)}")
    if f.is_floating_point() or f.dtype == torch.bool:
        raise ValueError(f"faces must have an integer dtype, got {f.dtype}")
    f = f.to(torch.int64)
    if f.numel() and (f.min() < 0 or f.max() >= num_vertices):
        raise ValueError(
            f"faces index vertices in [{f.min().item()}, {f.max().item()}], but the mesh has {num_vertices} vertices"
        )
    return f


def _merge_meshes(
    verts: list[torch.Tensor], faces: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenate P meshes sharing one face list: (sum V, 3) vertices, (P*F, 3) faces, (P*F,) person ids."""
    device = verts[0].device if verts else torch.device("cpu")
    sizes = torch.tensor([v.shape[0] for v in verts], dtype=torch.int64, device=device)
    offsets = torch.cumsum(sizes, 0) - sizes
    faces = faces.to(device)
    all_faces = (faces[None] + offsets[:, None, None]).reshape(-1, 3)
    person = torch.arange(len(verts), device=device).repeat_interleave(faces.shape[0])
    all_verts = torch.cat(verts, 0) if verts else torch.zeros(0, 3, device=device)
    return all_verts, all_faces, person


# --------------------------------------------------------------------------------------------------------------
# geometry


def project_points(points: torch.Tensor, K: Any) -> torch.Tensor:
    """Project camera-space points (..., 3) to pixel coordinates (..., 2) with intrinsics K."""
    K = _check_K(K).to(points.device, torch.float32)
    p = points.to(torch.float32) @ K.T
    return p[..., :2] / p[..., 2:3]


def _edge(ax, ay, bx, by, px, py):
    # twice the signed area of (a, b, p); positive when p is to the left of a->b in image coordinates
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


@torch.no_grad()
def rasterize(
    vertices: Any,
    faces: Any,
    K: Any,
    image_size: Any,
    *,
    vertices_2d: Any = None,
    near: float = 1e-3,
    chunk_size: int = _DEFAULT_CHUNK,
) -> Fragments:
    """Rasterise one or several meshes that share a face list into one z-buffer.

    Args:
        vertices: the meshes, camera space: (V, 3), (P, V, 3), a list of (V, 3), or person dicts with "vertices".
        faces: (F, 3) integer triangle indices shared by all meshes (e.g. ``model.faces``).
        K: (3, 3) intrinsics, or None when ``vertices_2d`` is given.
        image_size: ``(height, width)`` or an int for square images.
        vertices_2d: optional pixel coordinates of the vertices (same layout as ``vertices`` with 2 values, or person
            dicts with "vertices_2d"), used instead of projecting with K. Any 2D affine image transform of a
            perspective projection (e.g. undoing the processor's resize and padding) keeps depth and barycentrics
            exact, so people can be drawn on the original image without its intrinsics.
        near: triangles with a vertex at ``z <= near`` are dropped.
        chunk_size: upper bound on the (triangle, pixel) candidates processed at once (memory knob).

    Returns:
        :class:`Fragments` with depth, face and person indices and perspective-correct barycentrics.
    """
    height, width = _check_image_size(image_size)
    verts = _vertices_list(vertices)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    device = verts[0].device if verts else torch.device("cpu")
    num_v = min((v.shape[0] for v in verts), default=0)
    faces = _check_faces(faces, num_v) if verts else _check_faces(faces, 1 << 62)
    if vertices_2d is not None:
        screen = _vertices_list(vertices_2d, "vertices_2d", 2)
        if [v.shape[0] for v in screen] != [v.shape[0] for v in verts]:
            raise ValueError("vertices_2d must hold one 2D point per vertex, for the same people as vertices")
        all_uv = torch.cat(screen, 0).to(device) if screen else torch.zeros(0, 2, device=device)
    elif K is None:
        raise ValueError("rasterize needs the intrinsics K, or the projected vertices_2d")
    else:
        K = _check_K(K).to(device)
    all_v, all_f, person = _merge_meshes(verts, faces)

    n_pix = height * width
    zbuf = torch.full((n_pix,), float("inf"), device=device)
    fbuf = torch.full((n_pix,), -1, dtype=torch.int64, device=device)
    bbuf = torch.zeros(n_pix, 3, device=device)

    if all_f.shape[0] > 0:
        tri = all_v[all_f]  # (F, 3 corners, 3 xyz)
        z = tri[..., 2]
        valid = (z > near).all(-1)
        if vertices_2d is not None:
            uv = all_uv[all_f]
        else:
            uvw = tri @ K.T
            uv = uvw[..., :2] / uvw[..., 2:3].clamp_min(near)
        area = _edge(uv[:, 0, 0], uv[:, 0, 1], uv[:, 1, 0], uv[:, 1, 1], uv[:, 2, 0], uv[:, 2, 1])
        # pixel-centre bounding box (centres at c + 0.5), clipped to the image
        # (a box entirely right of / below the image gets x0 > x1 and is skipped)
        x0 = torch.ceil(uv[..., 0].amin(-1) - 0.5).clamp(0, width)
        x1 = torch.floor(uv[..., 0].amax(-1) - 0.5).clamp(-1, width - 1)
        y0 = torch.ceil(uv[..., 1].amin(-1) - 0.5).clamp(0, height)
        y1 = torch.floor(uv[..., 1].amax(-1) - 0.5).clamp(-1, height - 1)
        finite = torch.isfinite(uv).all(-1).all(-1)
        keep = valid & finite & (area.abs() > 1e-12) & (x1 >= x0) & (y1 >= y0)
        face_ids = torch.nonzero(keep).squeeze(1)
        if face_ids.numel():
            x0, y0 = x0[face_ids].long(), y0[face_ids].long()
            bw = x1[face_ids].long() - x0 + 1
            bh = y1[face_ids].long() - y0 + 1
            counts = bw * bh
            uv_k, z_k, area_k = uv[face_ids], z[face_ids], area[face_ids]
            # split the kept faces into chunks whose candidate totals stay under chunk_size
            ends = torch.cumsum(counts, 0)
            bounds = [0]
            while bounds[-1] < face_ids.numel():
                base = int(ends[bounds[-1] - 1]) if bounds[-1] > 0 else 0
                stop = int(torch.searchsorted(ends, base + chunk_size, right=True))
                bounds.append(max(stop, bounds[-1] + 1))  # a face larger than a chunk gets a chunk of its own
            for a, b in zip(bounds[:-1], bounds[1:]):
                _raster_chunk(
                    slice(a, b), face_ids, x0, y0, bw, counts, uv_k, z_k, area_k, width, zbuf, fbuf, bbuf
                )

    fbuf = fbuf.view(height, width)
    pbuf = torch.where(fbuf >= 0, person[fbuf.clamp_min(0)], torch.full_like(fbuf, -1)) if all_f.numel() else fbuf
    return Fragments(
        depth=zbuf.view(height, width),
        face_index=fbuf,
        person_index=pbuf,
        barycentric=bbuf.view(height, width, 3),
    )


def _raster_chunk(sl, face_ids, x0, y0, bw, counts, uv, z, area, width, zbuf, fbuf, bbuf):
    cnt = counts[sl]
    n = int(cnt.sum())
    local = torch.arange(cnt.shape[0], device=cnt.device).repeat_interleave(cnt, output_size=n)
    starts = torch.cumsum(cnt, 0) - cnt
    offset = torch.arange(n, device=cnt.device) - starts[local]
    gi = local + (sl.start or 0)  # index into the kept-face arrays
    bwi = bw[gi]
    px = x0[gi] + offset % bwi
    py = y0[gi] + torch.div(offset, bwi, rounding_mode="floor")
    cx = px.to(torch.float32) + 0.5
    cy = py.to(torch.float32) + 0.5
    t = uv[gi]  # (n, 3, 2)
    a = area[gi]
    w0 = _edge(t[:, 1, 0], t[:, 1, 1], t[:, 2, 0], t[:, 2, 1], cx, cy) / a
    w1 = _edge(t[:, 2, 0], t[:, 2, 1], t[:, 0, 0], t[:, 0, 1], cx, cy) / a
    w2 = 1.0 - w0 - w1
    inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
    if not bool(inside.any()):
        return
    idx = torch.nonzero(inside).squeeze(1)
    gi, px, py = gi[idx], px[idx], py[idx]
    w = torch.stack([w0[idx], w1[idx], w2[idx]], -1)
    # perspective-correct interpolation: 1/z is affine in screen space
    wz = w / z[gi]
    inv_z = wz.sum(-1)
    depth = 1.0 / inv_z
    bary = wz / inv_z[:, None]
    pix = py * width + px
    fid = face_ids[gi]

    before = zbuf[pix]
    zbuf.scatter_reduce_(0, pix, depth, reduce="amin")
    winner = (depth == zbuf[pix]) & (depth < before)  # strictly nearer than earlier chunks: earlier faces win ties
    if not bool(winner.any()):
        return
    wpix, wfid = pix[winner], fid[winner]
    best = torch.full_like(fbuf, torch.iinfo(torch.int64).max)
    best.scatter_reduce_(0, wpix, wfid, reduce="amin")  # smallest face index among equal-depth winners
    sel = wfid == best[wpix]
    fbuf[wpix[sel]] = wfid[sel]
    bbuf[wpix[sel]] = bary[winner][sel]


# --------------------------------------------------------------------------------------------------------------
# shading and compositing


def person_colors(num_people: int, colors: Any = None) -> torch.Tensor:
    """(P, 3) RGB colours in [0, 1]: the given ones (one per person, or one for all) or the default palette."""
    if colors is None:
        idx = torch.arange(num_people) % DEFAULT_PERSON_COLORS.shape[0]
        return DEFAULT_PERSON_COLORS[idx].clone()
    c = _as_tensor(colors, "colors").to(torch.float32)
    if c.ndim == 1:
        c = c[None].expand(num_people, -1)
    if c.ndim != 2 or c.shape[-1] != 3 or c.shape[0] < num_people:
        raise ValueError(f"colors must be (3,) or (P>={num_people}, 3) RGB values, got shape {tuple(c.shape)}")
    if c.max() > 1.0:
        if c.max() > 255 or c.min() < 0:
            raise ValueError("colors must be RGB in [0, 1] or [0, 255]")
        c = c / 255.0
    if c.min() < 0:
        raise ValueError("colors must be RGB in [0, 1] or [0, 255]")
    return c[:num_people].clone()


def _vertex_normals(v: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    tri = v[f]
    fn = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)  # area-weighted
    vn = torch.zeros_like(v).index_add_(0, f.reshape(-1), fn.repeat_interleave(3, 0))
    return torch.nn.functional.normalize(vn, dim=-1, eps=1e-12)


@torch.no_grad()
def render_people(
    vertices: Any,
    faces: Any,
    K: Any,
    image_size: Any,
    *,
    colors: Any = None,
    ambient: float = 0.35,
    light_dir: Sequence[float] = (0.3, -0.5, -1.0),
    smooth: bool = True,
    vertices_2d: Any = None,
    near: float = 1e-3,
) -> tuple[torch.Tensor, torch.Tensor, Fragments]:
    """Render shaded meshes (one colour per person) over a transparent background.

    Lambertian shading: ``colour * (ambient + (1 - ambient) * max(0, n . l))`` where ``n`` is the (smooth or flat)
    normal turned towards the camera and ``l`` the direction *towards* the light, in camera space (default: from
    the camera side, slightly above and to the right).

    Returns:
        rgb (H, W, 3) float in [0, 1] (zeros where empty), alpha (H, W) float (1 on people), and the fragments.
    """
    verts = _vertices_list(vertices)
    frags = rasterize(verts, faces, K, image_size, vertices_2d=vertices_2d, near=near)
    h, w = frags.depth.shape
    device = frags.depth.device
    if not 0.0 <= ambient <= 1.0:
        raise ValueError(f"ambient must be in [0, 1], got {ambient}")
    rgb = torch.zeros(h, w, 3, device=device)
    if not verts:
        return rgb, torch.zeros(h, w, device=device), frags
    all_v, all_f, _ = _merge_meshes(verts, _check_faces(faces, min(v.shape[0] for v in verts)))
    cols = person_colors(len(verts), colors).to(device)
    m = frags.mask
    fid = frags.face_index[m]
    if smooth:
        vn = _vertex_normals(all_v, all_f)
        n = (vn[all_f[fid]] * frags.barycentric[m][..., None]).sum(1)
    else:
        tri = all_v[all_f[fid]]
        n = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
    n = torch.nn.functional.normalize(n, dim=-1, eps=1e-12)
    # the visible point, to turn the normal towards the camera (two-sided surfaces)
    p = (all_v[all_f[fid]] * frags.barycentric[m][..., None]).sum(1)
    n = torch.where(((n * p).sum(-1, keepdim=True) > 0), -n, n)
    light = torch.nn.functional.normalize(torch.as_tensor(light_dir, dtype=torch.float32, device=device), dim=0)
    shade = ambient + (1.0 - ambient) * (n @ light).clamp_min(0.0)
    rgb[m] = (cols[frags.person_index[m]] * shade[:, None]).clamp(0, 1)
    return rgb, m.to(torch.float32), frags


def _image_to_float(image: Any) -> tuple[torch.Tensor, str]:
    """Image → (H, W, 3) float tensor in [0, 1]. Accepts PIL images and (H, W, 3) numpy arrays/tensors."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a core dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.array(image, copy=True))  # a copy: PIL arrays are read-only
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"image must be a PIL image or an (H, W, 3) array/tensor, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"image must have shape (H, W, 3) (RGB, channels last), got {tuple(image.shape)}")
    image = image[..., :3]
    if image.dtype == torch.uint8:
        return image.cpu().to(torch.float32) / 255.0, "uint8"
    if image.is_floating_point():
        if not torch.isfinite(image).all():
            raise ValueError("image contains NaN or inf values")
        if image.min() < 0 or image.max() > 1:
            raise ValueError("float images must hold values in [0, 1]; pass uint8 for [0, 255]")
        return image.cpu().to(torch.float32), "float"
    raise ValueError(f"image dtype must be uint8 or float in [0, 1], got {image.dtype}")


@torch.no_grad()
def render_overlay(
    image: Any,
    people: Any,
    faces: Any,
    K: Any = None,
    *,
    alpha: float = 0.8,
    colors: Any = None,
    ambient: float = 0.35,
    smooth: bool = True,
) -> np.ndarray:
    """Composite all people of one image onto it, occlusion-correct between people.

    Args:
        image: the original image (PIL, or (H, W, 3) uint8 / float in [0, 1] array or tensor).
        people: list of person dicts with "vertices" (camera space, metres) as returned by
            ``post_process_mesh_recovery``, or the vertices themselves ((P, V, 3) or a list of (V, 3)).
        faces: (F, 3) triangle indices (``model.faces``).
        K: (3, 3) intrinsics of ``image`` (the camera the vertices live in), or None to place the meshes with each
            person's ``vertices_2d`` (pixels of ``image``, as ``post_process_mesh_recovery(..., target_sizes=...)``
            returns them) and order them by the camera-space depth of ``vertices``.
        alpha: opacity of the meshes, in [0, 1].
        colors: optional (P, 3) or (3,) RGB colours; defaults to a fixed palette (person i gets colour i).

    Returns:
        (H, W, 3) uint8 numpy array.
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img, _ = _image_to_float(image)
    h, w = img.shape[:2]
    verts = _vertices_list(people)
    if not verts:
        return (img * 255.0).round().to(torch.uint8).cpu().numpy()
    screen = None
    if K is None:
        if not (isinstance(people, (list, tuple)) and all(isinstance(p, dict) for p in people)):
            raise ValueError("render_overlay without K needs person dicts with 'vertices' and 'vertices_2d'")
        screen = _vertices_list(people, "vertices_2d", 2)
    rgb, a, _ = render_people(
        verts, faces, K, (h, w), colors=colors, ambient=ambient, smooth=smooth, vertices_2d=screen
    )
    a = (a * float(alpha))[..., None].cpu()
    out = img * (1.0 - a) + rgb.cpu() * a
    return (out.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()


def render_depth(vertices: Any, faces: Any, K: Any, image_size: Any, *, near: float = 1e-3) -> torch.Tensor:
    """(H, W) float32 camera-space z of the nearest surface; 0 where no mesh is visible."""
    d = rasterize(vertices, faces, K, image_size, near=near).depth
    return torch.where(torch.isfinite(d), d, torch.zeros_like(d))


def render_mask(
    vertices: Any, faces: Any, K: Any, image_size: Any, *, near: float = 1e-3, instance: bool = False
) -> torch.Tensor:
    """Visible-pixel masks, occlusion-aware.

    Returns (P, H, W) bool masks (pixel is True for the person visible there), or with ``instance=True`` a single
    (H, W) int64 map holding the visible person's index and -1 for background.
    """
    verts = _vertices_list(vertices)
    frags = rasterize(verts, faces, K, image_size, near=near)
    if instance:
        return frags.person_index
    ids = torch.arange(len(verts), device=frags.person_index.device)
    return frags.person_index[None] == ids[:, None, None]


@torch.no_grad()
def render_side_view(
    people: Any,
    faces: Any,
    K: Any,
    image_size: Any,
    *,
    angle_degrees: float = 90.0,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    colors: Any = None,
    ambient: float = 0.35,
) -> np.ndarray:
    """Render the people seen from the side: the scene is turned by ``angle_degrees`` about the vertical (camera y)
    axis through the centre of all vertices, then drawn with the same camera K on a plain background.

    Shows depth errors that the front overlay hides (as the upstream demo's extra views). Returns (H, W, 3) uint8.
    """
    verts = _vertices_list(people)
    h, w = _check_image_size(image_size)
    bg = torch.as_tensor(background, dtype=torch.float32)
    if bg.shape != (3,) or bg.min() < 0 or bg.max() > 1:
        raise ValueError(f"background must be an RGB triple in [0, 1], got {list(background)}")
    if not verts:
        return (bg.expand(h, w, 3) * 255).round().to(torch.uint8).numpy()
    if not math.isfinite(angle_degrees):
        raise ValueError(f"angle_degrees must be finite, got {angle_degrees}")
    pivot = torch.cat(verts, 0).mean(0)
    a = math.radians(angle_degrees)
    c, s_ = math.cos(a), math.sin(a)
    rot = torch.tensor([[c, 0.0, s_], [0.0, 1.0, 0.0], [-s_, 0.0, c]], device=pivot.device)
    turned = [(v - pivot) @ rot.T + pivot for v in verts]
    rgb, alpha, _ = render_people(turned, faces, K, (h, w), colors=colors, ambient=ambient)
    out = bg.to(rgb.device) * (1 - alpha[..., None]) + rgb * alpha[..., None]
    return (out.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
