"""Export the people found in one image: a GLB/OBJ scene (one coloured node per person) and parameters as JSON.

``people`` is what ``post_process_mesh_recovery`` returns for one image: a list of dicts with ``score``,
``center_2d``, ``params`` (dict of tensors), ``translation``, ``vertices`` (V, 3) camera-space metres, ``joints_3d``,
``joints_2d`` and ``vertices_2d``. Mesh export needs ``vertices`` and the model's faces (``model.faces``).

Coordinates: the model works in the OpenCV camera frame (x right, y down, z forward). 3D viewers (glTF, Gradio's
``Model3D``, MeshLab) expect y up, so by default meshes are written in the OpenGL frame (y and z negated);
pass ``convention="opencv"`` to keep camera coordinates unchanged.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .render import _check_faces, _vertices_list, person_colors

__all__ = [
    "JSON_FORMAT",
    "export_glb",
    "export_mesh",
    "export_obj",
    "people_from_json",
    "people_to_json",
    "people_to_scene",
]

JSON_FORMAT = "nlv_hf.people"
JSON_VERSION = 1
_CONVENTIONS = ("opengl", "opencv")
_HEAVY_KEYS = ("vertices", "vertices_2d")


def _trimesh():
    try:
        import trimesh
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("mesh export needs trimesh: pip install 'nlv_hf[body]' (or pip install trimesh)") from err
    return trimesh


def people_to_scene(people: Any, faces: Any, *, colors: Any = None, convention: str = "opengl"):
    """Build a ``trimesh.Scene`` with one mesh node per person, named ``person_<i>`` and vertex-coloured.

    ``people``: person dicts with "vertices", or (P, V, 3) / a list of (V, 3) vertices.
    """
    if convention not in _CONVENTIONS:
        raise ValueError(f"convention must be one of {_CONVENTIONS}, got {convention!r}")
    trimesh = _trimesh()
    verts = _vertices_list(people)
    if not verts:
        raise ValueError("no people to export: the list of people is empty")
    f = _check_faces(faces, min(v.shape[0] for v in verts)).cpu().numpy()
    cols = (person_colors(len(verts), colors) * 255).round().to(torch.uint8).numpy()
    flip = np.array([1.0, -1.0, -1.0]) if convention == "opengl" else np.ones(3)
    scene = trimesh.Scene()
    for i, v in enumerate(verts):  # one node per person: a scene-graph loop, not a numeric hot path
        vn = v.detach().cpu().to(torch.float64).numpy() * flip
        rgba = np.concatenate([np.broadcast_to(cols[i], (vn.shape[0], 3)), np.full((vn.shape[0], 1), 255, np.uint8)], 1)
        mesh = trimesh.Trimesh(vertices=vn, faces=f, vertex_colors=rgba, process=False)
        scene.add_geometry(mesh, node_name=f"person_{i}", geom_name=f"person_{i}")
    return scene


def _atomic_write(path: Path, data: bytes | str) -> Path:
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise ValueError(f"output folder {path.parent} does not exist")
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def export_glb(
    people: Any, faces: Any, path: str | os.PathLike, *, colors: Any = None, convention: str = "opengl"
) -> Path:
    """Write all people of an image to one binary glTF (``.glb``) file, one node per person."""
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise ValueError(f"export_glb writes .glb files, got {path.name!r}")
    scene = people_to_scene(people, faces, colors=colors, convention=convention)
    return _atomic_write(path, scene.export(file_type="glb"))


def export_obj(
    people: Any, faces: Any, path: str | os.PathLike, *, colors: Any = None, convention: str = "opengl"
) -> Path:
    """Write all people of an image to one Wavefront OBJ file: one ``o person_<i>`` object each, vertex colours."""
    path = Path(path)
    if path.suffix.lower() != ".obj":
        raise ValueError(f"export_obj writes .obj files, got {path.name!r}")
    trimesh = _trimesh()
    scene = people_to_scene(people, faces, colors=colors, convention=convention)
    text = trimesh.exchange.obj.export_obj(scene, include_color=True, include_normals=False, include_texture=False)
    return _atomic_write(path, text)


def export_mesh(people: Any, faces: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Write ``.glb`` or ``.obj`` depending on the file name."""
    suffix = Path(path).suffix.lower()
    if suffix == ".glb":
        return export_glb(people, faces, path, **kwargs)
    if suffix == ".obj":
        return export_obj(people, faces, path, **kwargs)
    raise ValueError(f"unsupported mesh format {suffix!r} for {path}: use .glb or .obj")


# --------------------------------------------------------------------------------------------------------------
# JSON


def _to_jsonable(x: Any, where: str) -> Any:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.is_floating_point():
            x = x.to(torch.float64)
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise ValueError(f"{where} contains NaN or inf, which JSON cannot hold")
        return x.tolist()
    if isinstance(x, np.ndarray):
        return _to_jsonable(torch.from_numpy(np.ascontiguousarray(x)), where)
    if isinstance(x, dict):
        return {str(k): _to_jsonable(v, f"{where}.{k}") for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(x)]
    if isinstance(x, (bool, int, str)) or x is None:
        return x
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            raise ValueError(f"{where} is {x} (NaN or inf), which JSON cannot hold")
        return float(x)
    if isinstance(x, np.integer):
        return int(x)
    raise ValueError(f"{where} has type {type(x).__name__}, which cannot be written to JSON")


def people_to_json(
    people: list[dict[str, Any]],
    path: str | os.PathLike | None = None,
    *,
    include_vertices: bool = False,
    metadata: dict[str, Any] | None = None,
    indent: int | None = None,
) -> str:
    """Serialise the people of one image (parameters, translation, joints, scores) to JSON text.

    Vertices (``vertices``, ``vertices_2d``) are large and can be recomputed from the body-model parameters, so
    they are left out unless ``include_vertices=True``. ``metadata`` (e.g. ``{"K": K, "image_size": [h, w]}``) is
    stored beside the people. Tensors become nested lists; :func:`people_from_json` turns them back into tensors.
    If ``path`` is given the text is also written there (atomically).
    """
    if not isinstance(people, (list, tuple)) or not all(isinstance(p, dict) for p in people):
        raise ValueError("people must be a list of person dicts (the output of post_process_mesh_recovery)")
    out_people = []
    for i, person in enumerate(people):
        keep = {k: v for k, v in person.items() if include_vertices or k not in _HEAVY_KEYS}
        out_people.append(_to_jsonable(keep, f"people[{i}]"))
    doc = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "metadata": _to_jsonable(metadata or {}, "metadata"),
        "people": out_people,
    }
    text = json.dumps(doc, indent=indent)
    if path is not None:
        _atomic_write(Path(path), text)
    return text


def _from_jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _from_jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        try:
            arr = np.asarray(x)
        except ValueError:  # ragged
            return [_from_jsonable(v) for v in x]
        if arr.dtype.kind in "iu":
            return torch.from_numpy(arr.astype(np.int64))
        if arr.dtype.kind == "f":
            return torch.from_numpy(arr.astype(np.float32))
        if arr.dtype.kind == "b":
            return torch.from_numpy(arr)
        return [_from_jsonable(v) for v in x]
    return x


def people_from_json(source: str | os.PathLike, *, return_metadata: bool = False):
    """Read what :func:`people_to_json` wrote (JSON text or a file path) back into person dicts of tensors.

    Float arrays come back as float32 tensors, integer arrays as int64 tensors, scalars as Python numbers.
    """
    text = None
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not source.lstrip().startswith("{")):
        p = Path(source)
        if not p.is_file():
            raise ValueError(f"{source!r} is neither JSON text nor an existing file")
        text = p.read_text(encoding="utf-8")
    elif isinstance(source, str):
        text = source
    else:
        raise ValueError(f"source must be JSON text or a path, got {type(source).__name__}")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT:
        raise ValueError(f"not an {JSON_FORMAT} document (missing or wrong 'format' field)")
    if doc.get("version") != JSON_VERSION:
        raise ValueError(f"unsupported {JSON_FORMAT} version {doc.get('version')!r}; this reader knows {JSON_VERSION}")
    people = [_from_jsonable(p) for p in doc.get("people", [])]
    if return_metadata:
        return people, _from_jsonable(doc.get("metadata", {}))
    return people
