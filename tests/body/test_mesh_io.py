import json

import numpy as np
import pytest
import torch

trimesh = pytest.importorskip("trimesh")

from nlv_hf.body.mesh_io import (  # noqa: E402
    export_glb,
    export_mesh,
    export_obj,
    people_from_json,
    people_to_json,
    people_to_scene,
)
from nlv_hf.body.render import DEFAULT_PERSON_COLORS  # noqa: E402


def make_people(n=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    # a tetrahedron with one extra vertex that no face uses: exports must keep every vertex
    base = torch.tensor([[0.0, 0.0, 0.0], [0.2, 0.0, 0.0], [0.0, 0.2, 0.0], [0.0, 0.0, 0.2], [0.5, 0.5, 0.5]])
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    people = []
    for i in range(n):
        v = base + torch.tensor([i * 0.6 - 0.6, 0.0, 3.0]) + 0.01 * torch.randn(5, 3, generator=gen)
        people.append(
            {
                "score": 0.5 + 0.1 * i,
                "center_2d": torch.tensor([10.0 + i, 20.0]),
                "translation": v[0].clone(),
                "params": {"rotvec": torch.randn(4, 3, generator=gen), "shape": torch.rand(6, generator=gen)},
                "vertices": v,
                "joints_3d": v[:3].clone(),
                "joints_2d": torch.randn(3, 2, generator=gen),
                "vertices_2d": torch.randn(5, 2, generator=gen),
            }
        )
    return people, faces


def test_glb_round_trip_one_node_per_person(tmp_path):
    people, faces = make_people(3)
    path = export_glb(people, faces, tmp_path / "scene.glb")
    scene = trimesh.load(path, process=False)
    assert isinstance(scene, trimesh.Scene)
    assert sorted(scene.graph.nodes_geometry) == ["person_0", "person_1", "person_2"]
    for i, person in enumerate(people):
        mesh = scene.geometry[f"person_{i}"]
        assert mesh.vertices.shape == (5, 3) and mesh.faces.shape == (4, 3)
        # default OpenGL convention: y and z negated
        expected = person["vertices"].double().numpy() * np.array([1.0, -1.0, -1.0])
        np.testing.assert_allclose(mesh.vertices, expected, atol=1e-6)
        np.testing.assert_array_equal(mesh.faces, faces.numpy())
        colour = (DEFAULT_PERSON_COLORS[i] * 255).round().numpy()
        np.testing.assert_array_equal(mesh.visual.vertex_colors[:, :3], np.broadcast_to(colour, (5, 3)))


def test_glb_opencv_convention_keeps_camera_coordinates(tmp_path):
    people, faces = make_people(1)
    scene = trimesh.load(export_glb(people, faces, tmp_path / "a.glb", convention="opencv"), process=False)
    np.testing.assert_allclose(scene.geometry["person_0"].vertices, people[0]["vertices"].numpy(), atol=1e-6)


def test_obj_round_trip(tmp_path):
    people, faces = make_people(2)
    path = export_mesh(people, faces, tmp_path / "scene.obj", colors=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    text = path.read_text()
    blocks = text.split("\no ")[1:]
    assert [b.splitlines()[0] for b in blocks] == ["person_0", "person_1"]
    assert all(sum(line.startswith("v ") for line in b.splitlines()) == 5 for b in blocks)  # every vertex written
    scene = trimesh.load(path, process=False, split_objects=True, group_material=False, force="scene")
    assert sorted(scene.geometry) == ["person_0", "person_1"]
    for i, name in enumerate(["person_0", "person_1"]):
        mesh = scene.geometry[name]
        assert mesh.faces.shape == (4, 3)
        # the loader drops the unreferenced vertex; the four used ones come back in order
        expected = people[i]["vertices"][:4].double().numpy() * np.array([1.0, -1.0, -1.0])
        np.testing.assert_allclose(mesh.vertices, expected, atol=1e-6)
        assert tuple(mesh.visual.vertex_colors[0, :3]) == ((255, 0, 0) if i == 0 else (0, 255, 0))


def test_scene_accepts_batched_vertices():
    people, faces = make_people(2)
    scene = people_to_scene(torch.stack([p["vertices"] for p in people]), faces)
    assert len(scene.geometry) == 2


def test_json_round_trip(tmp_path):
    people, _ = make_people(2)
    K = torch.tensor([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    text = people_to_json(people, tmp_path / "p.json", metadata={"K": K, "image_size": [480, 640]})
    doc = json.loads(text)
    assert doc["format"] == "nlv_hf.people" and len(doc["people"]) == 2
    assert "vertices" not in doc["people"][0] and "vertices_2d" not in doc["people"][0]
    back, meta = people_from_json(tmp_path / "p.json", return_metadata=True)
    assert torch.equal(meta["K"], K) and meta["image_size"].tolist() == [480, 640]
    for p, q in zip(people, back):
        assert q["score"] == pytest.approx(p["score"])
        for key in ("center_2d", "translation", "joints_3d", "joints_2d"):
            assert torch.equal(q[key], p[key])  # float32 values survive JSON exactly
        assert torch.equal(q["params"]["rotvec"], p["params"]["rotvec"])
        assert torch.equal(q["params"]["shape"], p["params"]["shape"])
    full = people_from_json(people_to_json(people, include_vertices=True))
    assert torch.equal(full[1]["vertices"], people[1]["vertices"])


def test_bad_inputs(tmp_path):
    people, faces = make_people(1)
    with pytest.raises(ValueError, match="empty"):
        export_glb([], faces, tmp_path / "a.glb")
    with pytest.raises(ValueError, match=".glb"):
        export_glb(people, faces, tmp_path / "a.obj")
    with pytest.raises(ValueError, match="unsupported mesh format"):
        export_mesh(people, faces, tmp_path / "a.stl")
    with pytest.raises(ValueError, match="convention"):
        people_to_scene(people, faces, convention="blender")
    with pytest.raises(ValueError, match="faces index"):
        export_obj(people, faces + 10, tmp_path / "a.obj")
    with pytest.raises(ValueError, match="does not exist"):
        export_glb(people, faces, tmp_path / "missing" / "a.glb")
    assert not list(tmp_path.iterdir())  # nothing partial written
    bad = [dict(people[0], score=float("nan"))]
    with pytest.raises(ValueError, match="NaN"):
        people_to_json(bad)
    with pytest.raises(ValueError, match="list of person dicts"):
        people_to_json(torch.zeros(3))
    with pytest.raises(ValueError, match="not valid JSON"):
        people_from_json("{oops")
    with pytest.raises(ValueError, match="format"):
        people_from_json('{"people": []}')
    with pytest.raises(ValueError, match="neither JSON text nor an existing file"):
        people_from_json(str(tmp_path / "nope.json"))
