import numpy as np
import pytest
import torch
from PIL import Image

from nlv_hf.body.render import (
    DEFAULT_PERSON_COLORS,
    person_colors,
    project_points,
    rasterize,
    render_depth,
    render_mask,
    render_overlay,
    render_people,
)

K = torch.tensor([[100.0, 0.0, 32.0], [0.0, 100.0, 32.0], [0.0, 0.0, 1.0]])
QUAD_FACES = torch.tensor([[0, 1, 2], [0, 2, 3]])


def square(half: float, z: float, cx: float = 0.0, cy: float = 0.0) -> torch.Tensor:
    return torch.tensor(
        [[cx - half, cy - half, z], [cx + half, cy - half, z], [cx + half, cy + half, z], [cx - half, cy + half, z]]
    )


def cube(half: float, center) -> tuple[torch.Tensor, torch.Tensor]:
    c = torch.tensor(center, dtype=torch.float32)
    corners = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=torch.float32)
    v = corners * half + c
    # 12 triangles (two per face), index = 4x + 2y + z with x,y,z in {0,1}
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    f = torch.tensor([[a, b, c_] for a, b, c_, d in quads] + [[a, c_, d] for a, b, c_, d in quads])
    return v, f


def test_square_at_known_depth_covers_expected_pixels():
    # x in [-0.2, 0.2] at z=2 projects to u in [22, 42]: pixel centres 22.5 .. 41.5 → columns 22..41
    frags = rasterize(square(0.2, 2.0), QUAD_FACES, K, (64, 64))
    expected = torch.zeros(64, 64, dtype=torch.bool)
    expected[22:42, 22:42] = True
    assert torch.equal(frags.mask, expected)
    assert torch.allclose(frags.depth[expected], torch.full((400,), 2.0), atol=1e-5)
    assert torch.isinf(frags.depth[~expected]).all()
    assert (frags.face_index[~expected] == -1).all() and (frags.person_index[~expected] == -1).all()
    assert set(frags.face_index[expected].unique().tolist()) == {0, 1}
    # barycentrics are a partition of unity inside
    assert torch.allclose(frags.barycentric[expected].sum(-1), torch.ones(400), atol=1e-5)


def test_non_square_image_and_offset_principal_point():
    k = torch.tensor([[50.0, 0.0, 10.0], [0.0, 80.0, 30.0], [0.0, 0.0, 1.0]])
    frags = rasterize(square(0.1, 1.0), QUAD_FACES, k, (40, 20))  # u in [5, 15], v in [22, 38]
    ys, xs = torch.nonzero(frags.mask, as_tuple=True)
    assert (xs.min().item(), xs.max().item(), ys.min().item(), ys.max().item()) == (5, 14, 22, 37)
    assert frags.mask.sum().item() == 10 * 16


def test_cube_depth_is_front_face_and_perspective_correct():
    v, f = cube(0.25, (0.0, 0.0, 3.0))
    depth = render_depth(v, f, K, (64, 64))
    # front face z = 2.75 projects to [32 - 100*0.25/2.75, 32 + ...] = [22.9, 41.1]
    inner = depth[25:39, 25:39]
    assert torch.allclose(inner, torch.full_like(inner, 2.75), atol=1e-4)
    assert (depth[0] == 0).all() and (depth[:, 0] == 0).all()
    # a tilted plane: perspective-correct depth equals the ray/plane intersection exactly
    plane = torch.tensor([[-1.0, -1.0, 2.0], [1.0, -1.0, 4.0], [1.0, 1.0, 4.0], [-1.0, 1.0, 2.0]])
    d = render_depth(plane, QUAD_FACES, K, (64, 64))
    cols = torch.arange(64, dtype=torch.float32) + 0.5
    # plane z = 3 + x, ray x = z (u - cx) / fx  →  z = 3 / (1 - (u - cx) / fx)
    expected = 3.0 / (1.0 - (cols - 32.0) / 100.0)
    row = d[32]
    hit = row > 0
    assert hit.sum() > 40
    assert torch.allclose(row[hit], expected[hit], rtol=1e-5)


def test_zbuffer_keeps_the_nearer_of_two_overlapping_triangles():
    near_tri = torch.tensor([[-0.5, -0.5, 2.0], [0.5, -0.5, 2.0], [0.0, 0.5, 2.0]])
    far_tri = torch.tensor([[-0.5, -0.5, 3.0], [0.5, -0.5, 3.0], [0.0, 0.5, 3.0]]) * torch.tensor([2.0, 2.0, 1.0])
    f = torch.tensor([[0, 1, 2]])
    for order in ([far_tri, near_tri], [near_tri, far_tri]):  # result does not depend on drawing order
        frags = rasterize(order, f, K, (64, 64))
        near_person = 1 if order[1] is near_tri else 0
        near_mask = rasterize(near_tri, f, K, (64, 64)).mask
        far_mask = rasterize(far_tri, f, K, (64, 64)).mask
        assert (near_mask & far_mask).sum() > 50 and (far_mask & ~near_mask).sum() > 10
        assert (frags.person_index[near_mask] == near_person).all()
        assert (frags.person_index[far_mask & ~near_mask] == 1 - near_person).all()
        assert torch.allclose(frags.depth[near_mask], torch.full_like(frags.depth[near_mask], 2.0))
        # the same z-buffer holds across chunks: a tiny chunk size gives the same answer
        small = rasterize(order, f, K, (64, 64), chunk_size=500)
        assert torch.equal(small.person_index, frags.person_index) and torch.equal(small.depth, frags.depth)


def test_masks_are_occlusion_aware():
    front = square(0.2, 2.0)
    back = square(0.3, 3.0, cx=0.1)
    masks = render_mask([front, back], QUAD_FACES, K, (64, 64))
    assert masks.shape == (2, 64, 64) and masks.dtype == torch.bool
    assert not (masks[0] & masks[1]).any()
    alone = render_mask(back, QUAD_FACES, K, (64, 64))[0]
    assert torch.equal(masks[0] | masks[1], rasterize([front, back], QUAD_FACES, K, 64).mask)
    assert (alone & ~masks[1]).sum() == (alone & masks[0]).sum() > 0
    inst = render_mask([front, back], QUAD_FACES, K, (64, 64), instance=True)
    assert torch.equal(inst == 0, masks[0]) and torch.equal(inst == 1, masks[1]) and (inst >= -1).all()


def test_projection_of_vertices_matches_K_and_pixels():
    gen = torch.Generator().manual_seed(0)
    pts = torch.rand(50, 3, generator=gen) * torch.tensor([2.0, 2.0, 3.0]) + torch.tensor([-1.0, -1.0, 2.0])
    uv = project_points(pts, K)
    ref = (pts @ K.T)[:, :2] / pts[:, 2:]
    assert torch.allclose(uv, ref)
    # a small triangle around each projected point lights the pixel floor(u), floor(v)
    p = torch.tensor([0.13, -0.21, 2.5])
    u, v = project_points(p, K).tolist()
    eps = 0.1  # ±4 px: the pixel whose centre is nearest to p is inside
    tri = torch.stack([p + torch.tensor([-eps, -eps, 0]), p + torch.tensor([eps, -eps, 0]), p + torch.tensor([0, eps, 0])])
    frags = rasterize(tri, torch.tensor([[0, 1, 2]]), K, (64, 64))
    ys, xs = torch.nonzero(frags.mask, as_tuple=True)
    assert (int(v), int(u)) in set(zip(ys.tolist(), xs.tolist()))


def test_render_people_colours_and_shading():
    a = square(0.2, 2.0, cx=-0.3)
    b = square(0.2, 2.0, cx=0.3)
    rgb, alpha, frags = render_people([a, b], QUAD_FACES, K, (64, 64), ambient=0.35, light_dir=(0, 0, -1))
    assert rgb.shape == (64, 64, 3) and alpha.shape == (64, 64)
    # facing the light: full brightness, exactly the palette colour
    c0 = rgb[frags.person_index == 0]
    c1 = rgb[frags.person_index == 1]
    assert torch.allclose(c0, DEFAULT_PERSON_COLORS[0].expand_as(c0), atol=1e-5)
    assert torch.allclose(c1, DEFAULT_PERSON_COLORS[1].expand_as(c1), atol=1e-5)
    assert (rgb[alpha == 0] == 0).all()
    # light from the side: only the ambient term is left (two-sided normal faces the camera)
    rgb_side, _, _ = render_people(a, QUAD_FACES, K, (64, 64), ambient=0.35, light_dir=(1, 0, 0), smooth=False)
    m = rgb_side.sum(-1) > 0
    assert torch.allclose(rgb_side[m], 0.35 * DEFAULT_PERSON_COLORS[0].expand_as(rgb_side[m]), atol=1e-5)
    assert person_colors(2, [255, 0, 0]).tolist() == [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]


def test_render_overlay_composites_people_over_image():
    image = np.full((64, 64, 3), 100, np.uint8)
    people = [{"vertices": square(0.2, 2.0)}, {"vertices": square(0.3, 3.0, cx=0.2)}]
    out = render_overlay(image, people, QUAD_FACES, K, alpha=1.0, colors=[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert out.dtype == np.uint8 and out.shape == (64, 64, 3)
    masks = render_mask(people, QUAD_FACES, K, (64, 64)).numpy()
    assert (out[~(masks[0] | masks[1])] == 100).all()
    assert (out[masks[0]][:, 0] > 0).all() and (out[masks[0]][:, 2] == 0).all()  # front person is red
    assert (out[masks[1]][:, 2] > 0).all() and (out[masks[1]][:, 0] == 0).all()  # the rest of the back one is blue
    half = render_overlay(Image.fromarray(image), people, QUAD_FACES, K.numpy(), alpha=0.5)
    assert (half[masks[0]] != 100).any() and (half[~(masks[0] | masks[1])] == 100).all()
    # float image and no people: returned unchanged
    same = render_overlay(image.astype(np.float32) / 255.0, [], QUAD_FACES, K)
    assert (same == 100).all()


def test_dtypes_and_batched_input():
    v = torch.stack([square(0.2, 2.0), square(0.2, 3.0, cx=0.5)])
    d32 = render_depth(v, QUAD_FACES, K, 64)
    d16 = render_depth(v.to(torch.bfloat16), QUAD_FACES.int(), K.double(), 64)
    assert torch.equal(d32 > 0, d16 > 0)


def test_triangles_behind_camera_are_dropped():
    v = torch.tensor([[-0.2, -0.2, -1.0], [0.2, -0.2, 2.0], [0.0, 0.2, 2.0]])
    assert not rasterize(v, torch.tensor([[0, 1, 2]]), K, 32).mask.any()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"K": torch.eye(2)}, "K must be a"),
        ({"K": torch.tensor([[0.0, 0, 1], [0, 1, 1], [0, 0, 1]])}, "positive focal"),
        ({"K": torch.tensor([[1.0, 0, 1], [0, 1, 1], [0, 1, 1]])}, "last row"),
        ({"vertices": torch.zeros(4, 2)}, "shape"),
        ({"vertices": torch.full((4, 3), float("nan"))}, "NaN"),
        ({"faces": torch.tensor([[0, 1, 9]])}, "faces index"),
        ({"faces": torch.tensor([[0.0, 1.0, 2.0]])}, "integer"),
        ({"faces": torch.tensor([0, 1, 2])}, "faces must be"),
        ({"image_size": (0, 10)}, "image_size"),
        ({"image_size": "big"}, "image_size"),
        ({"vertices": [{"verts": 1}]}, "no 'vertices'"),
        ({"vertices": "abc"}, "people/vertices"),
    ],
)
def test_bad_inputs_raise_value_error(kwargs, match):
    args = {"vertices": square(0.2, 2.0), "faces": QUAD_FACES, "K": K, "image_size": (32, 32)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        rasterize(args["vertices"], args["faces"], args["K"], args["image_size"])


def test_overlay_bad_inputs():
    people = [square(0.2, 2.0)]
    with pytest.raises(ValueError, match="alpha"):
        render_overlay(np.zeros((8, 8, 3), np.uint8), people, QUAD_FACES, K, alpha=1.5)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        render_overlay(np.zeros((3, 8, 8), np.uint8), people, QUAD_FACES, K)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        render_overlay(np.full((8, 8, 3), 2.0, np.float32), people, QUAD_FACES, K)
    with pytest.raises(ValueError, match="colors"):
        render_overlay(np.zeros((8, 8, 3), np.uint8), people * 2, QUAD_FACES, K, colors=[[1, 0, 0]])


def test_projected_vertices_give_the_same_raster_as_K():
    people = [square(0.2, 2.0), square(0.3, 3.0, cx=0.2)]
    by_k = rasterize(people, QUAD_FACES, K, (64, 64))
    by_2d = rasterize(people, QUAD_FACES, None, (64, 64), vertices_2d=[project_points(v, K) for v in people])
    assert torch.equal(by_k.person_index, by_2d.person_index)
    torch.testing.assert_close(by_k.depth, by_2d.depth)


def test_overlay_from_post_processed_people_without_K():
    # the processor letterboxes a 64x64 photo into a 128x128 input: vertices live in the input camera K_in, and
    # post-processing maps the 2D points back to photo pixels with (p - offset) / scale
    k_in = torch.tensor([[200.0, 0.0, 64.0], [0.0, 200.0, 64.0], [0.0, 0.0, 1.0]])
    scale, offset = 2.0, torch.tensor([0.0, 0.0])
    people = []
    for v in (square(0.2, 2.0), square(0.3, 3.0, cx=0.2)):
        people.append({"vertices": v, "vertices_2d": (project_points(v, k_in) - offset) / scale})
    image = np.full((64, 64, 3), 100, np.uint8)
    out = render_overlay(image, people, QUAD_FACES, alpha=1.0, colors=[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    # the equivalent camera of the photo: K_in with focal and centre divided by the scale
    k_photo = torch.tensor([[100.0, 0.0, 32.0], [0.0, 100.0, 32.0], [0.0, 0.0, 1.0]])
    ref = render_overlay(image, people, QUAD_FACES, k_photo, alpha=1.0, colors=[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert np.array_equal(out, ref) and (out != 100).any()
    with pytest.raises(ValueError, match="vertices_2d"):
        render_overlay(image, [{"vertices": square(0.2, 2.0)}], QUAD_FACES)
    with pytest.raises(ValueError, match="needs person dicts"):
        render_overlay(image, [square(0.2, 2.0)], QUAD_FACES)
    with pytest.raises(ValueError, match="one 2D point per vertex"):
        rasterize(square(0.2, 2.0), QUAD_FACES, None, 64, vertices_2d=torch.zeros(3, 2))
    with pytest.raises(ValueError, match="needs the intrinsics"):
        rasterize(square(0.2, 2.0), QUAD_FACES, None, 64)


def test_camera_can_be_a_dict_or_an_object_with_K():
    class Camera:
        def __init__(self, K):
            self.K = K

    ref = rasterize(square(0.2, 2.0), QUAD_FACES, K, 64).mask
    assert torch.equal(rasterize(square(0.2, 2.0), QUAD_FACES, {"K": K}, 64).mask, ref)
    assert torch.equal(rasterize(square(0.2, 2.0), QUAD_FACES, Camera(K.numpy()), 64).mask, ref)
    assert torch.equal(rasterize(square(0.2, 2.0), QUAD_FACES, K[None], 64).mask, ref)


def test_side_view_turns_the_scene_about_the_vertical_axis():
    from nlv_hf.body.render import render_side_view

    near, far = square(0.3, 2.0), square(0.3, 4.0)  # the near square hides the far one from the front
    red_blue = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    front = render_side_view([near, far], QUAD_FACES, K, 64, angle_degrees=0.0, colors=red_blue, ambient=1.0)
    back = render_side_view([near, far], QUAD_FACES, K, 64, angle_degrees=180.0, colors=red_blue, ambient=1.0)
    assert (front[32, 32] == [255, 0, 0]).all() and (back[32, 32] == [0, 0, 255]).all()
    # seen from 90 degrees both squares are edge-on: almost nothing covers the white background
    side = render_side_view([near, far], QUAD_FACES, K, 64, angle_degrees=90.0)
    assert (side == 255).all(-1).mean() > 0.95
    empty = render_side_view([], QUAD_FACES, K, (8, 10), background=(0.0, 0.0, 0.0))
    assert empty.shape == (8, 10, 3) and (empty == 0).all()
    with pytest.raises(ValueError, match="background"):
        render_side_view([near], QUAD_FACES, K, 64, background=(2.0, 0.0, 0.0))


def test_geometry_outside_the_image_draws_nothing_and_partial_geometry_is_clipped():
    for cx in (-5.0, 5.0):  # far left / far right of the 64-pixel image
        assert not rasterize(square(0.2, 2.0, cx=cx), QUAD_FACES, K, 64).mask.any()
    assert not rasterize(square(0.2, 2.0, cy=5.0), QUAD_FACES, K, 64).mask.any()
    # a square straddling the right border: columns 54..63 only (u from 54 to 74)
    frags = rasterize(square(0.2, 2.0, cx=0.64), QUAD_FACES, K, 64)
    ys, xs = torch.nonzero(frags.mask, as_tuple=True)
    assert (xs.min().item(), xs.max().item()) == (54, 63) and frags.mask.sum().item() == 10 * 20
