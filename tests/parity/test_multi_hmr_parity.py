"""Parity of Multi-HMR (SMPL-X, upstream ``model.Model``) and Multi-HMR-Anny (upstream ``multi_hmr_anny.Multi_HMR``)
with the upstream code, replaying every call recorded in the fixtures.

Tolerance: ``max |ours - upstream| <= 1e-5 + 1e-6 * max |upstream|`` per output tensor, exact for integer outputs.
The scale term only matters for the metric outputs with large values (Anny depths/translations of ~100 m, where
1e-5 is about one float32 ulp; SMPL-X 2D projections of up to ~126 px at 0.4 m depth, where a 1e-7 rounding
difference of a vertex is magnified ~200x); every output whose values stay below 10 is held to ~1e-5 absolute.
"""

import pytest
import torch

from fixture_utils import Fixture
from nlv_hf.body.camera import inverse_perspective_projection
from nlv_hf.body.synthetic_smplx import digest, make_smplx_arrays, write_synthetic_smplx
from nlv_hf.models.multi_hmr import MultiHMRForMeshRecovery, MultiHMRModel
from nlv_hf.models.multi_hmr.convert_multi_hmr_original import config_from_upstream_kwargs, convert_state_dict
from nlv_hf.models.multi_hmr.modeling_multi_hmr import camera_ray_embedding, suppress_non_maxima

ATOL, RTOL = 1e-5, 1e-6


def check(actual, expected, name):
    actual = actual.reshape(expected.shape) if actual.numel() == expected.numel() else actual
    assert tuple(actual.shape) == tuple(expected.shape), f"{name}: shape {tuple(actual.shape)} != " \
                                                         f"{tuple(expected.shape)}"
    if not expected.is_floating_point():
        assert torch.equal(actual.to(expected.dtype), expected), f"{name}: integer outputs differ"
        return
    if expected.numel() == 0:
        return
    diff = (actual.float() - expected.float()).abs().max().item()
    bound = ATOL + RTOL * expected.float().abs().max().item()
    assert diff <= bound, f"{name}: max abs diff {diff:.3g} > {bound:.3g}"


def tiny_overrides(fx):
    overrides = {"num_attention_heads": fx.meta["backbone_source"]["tiny_backbone_kwargs"]["num_heads"]}
    return overrides


def load(fixtures_root, name, smplx_dir=None):
    fx = Fixture(fixtures_root / name)
    config = config_from_upstream_kwargs(fx.kwargs, fx.state_dict, **tiny_overrides(fx))
    if "tiny_hph_overrides" in fx.meta:  # SMPL-X: the fixture patched upstream's hard-coded HPH width/head dim
        hph = fx.meta["tiny_hph_overrides"]  # the converter reads them back from the tensor shapes
        assert (config.decoder_hidden_size, config.decoder_head_dim) == (hph["dim"], hph["dim_head"])
        assert config.decoder_intermediate_size == hph["mlp_dim"]
    model = MultiHMRForMeshRecovery(config, smplx_path=smplx_dir)
    model.load_state_dict(convert_state_dict(fx.state_dict, config, prefix="multi_hmr."), strict=True)
    return fx, model.eval()


@pytest.fixture(scope="module")
def smplx_dir(tmp_path_factory, fixtures_root):
    """The synthetic SMPL-X file the fixture was made with, regenerated and checked against its checksums."""
    fx = Fixture(fixtures_root / "multi_hmr")
    arrays = make_smplx_arrays(0)
    expected = fx.meta["synthetic_smplx"]["SMPLX_NEUTRAL_arrays"]
    ours = digest(arrays)
    for key, entry in expected.items():
        assert ours[key]["sha256"] == entry["sha256"], f"synthetic SMPL-X array {key} differs from the fixture's"
    folder = tmp_path_factory.mktemp("smplx")
    write_synthetic_smplx(folder)
    return folder


def test_every_call_is_replayed(fixtures_root):
    covered = {"multi_hmr": {"inference_full", "smpl_layer", "head_given_detections", "hph", "backbone",
                             "camera_embedding"},
               "multi_hmr_anny": {"inference_regressed_K", "train_path_given_idx_and_K"}}
    for name, calls in covered.items():
        fx = Fixture(fixtures_root / name)
        assert set(fx.call_names()) == calls, f"{name}: calls without a replay: {set(fx.call_names()) - calls}"


@torch.no_grad()
def test_multi_hmr_smplx_parity(fixtures_root, smplx_dir):
    torch.set_num_threads(1)
    fx, model = load(fixtures_root, "multi_hmr", smplx_dir)
    io = fx.io
    x, k = io["x"], io["K"]
    base = model.multi_hmr
    head = base.head

    # backbone: the DINOv2 patch tokens (pos-embed resized at conversion with DINOv2's own rule)
    check(base(x, intrinsics=k, detections=io["infer.idx"][:3].T).last_hidden_state, io["backbone.out"], "backbone.out")
    # camera_embedding (with upstream's row/column transposition)
    g = model.config.grid_size
    check(camera_ray_embedding(k, g, 14, 16, 64), io["camera.rays_embedding"], "camera.rays_embedding")

    # inference_full: detection (NMS 3, threshold 0.5625) and every per-person output with the synthetic SMPL-X
    out = model(x, intrinsics=k, detection_threshold=0.5625, nms_kernel_size=3)
    check(suppress_non_maxima(out.scores, 3)[..., None], io["infer.scores_nms"], "infer.scores_nms")
    idx = io["infer.idx"]
    check(out.detections.T, idx[:3], "infer.idx")
    assert (idx[3] == 0).all()
    pairs = {"scores": out.detection_scores, "loc": out.centers_2d, "transl": out.translation,
             "transl_pelvis": out.translation_pelvis[:, None], "rotvec": out.rotvec, "expression": out.expression,
             "shape": out.betas, "v3d": out.vertices, "j3d": out.joints_3d, "j2d": out.joints_2d}
    for key, ours in pairs.items():
        check(ours, io[f"infer.persons.{key}"], f"infer.persons.{key}")

    # smpl_layer: the body model + placement alone, on the recorded inputs
    translation = inverse_perspective_projection(io["smpl.in.loc"][:, None], io["smpl.in.K"],
                                                 io["smpl.in.dist"][:, None])[:, 0]
    check(translation, io["infer.persons.transl"], "smpl_layer transl")
    bodies = model.pose_bodies(io["smpl.in.rotvec"], None, io["smpl.in.shape"], io["smpl.in.expression"],
                               translation, io["smpl.in.K"])
    for key, ours in {"v3d": bodies["vertices"], "j3d": bodies["joints_3d"], "j2d": bodies["joints_2d"],
                      "transl_pelvis": bodies["translation_pelvis"][:, None]}.items():
        check(ours, io[f"infer.persons.{key}"], f"smpl_layer {key}")

    # head_given_detections: teacher-forced detections, raw head outputs (no SMPL-X needed)
    head_out = base(x, intrinsics=k, detections=idx[:3].T)
    for key, ours in {"scores": head_out.scores[..., None], "offset": head_out.offset, "loc": head_out.centers_2d,
                      "dist_postprocessed": head_out.depth_raw, "dist": head_out.depth, "rotmat": head_out.rotmat,
                      "rotvec": head_out.rotvec, "shape": head_out.betas,
                      "expression": head_out.expression}.items():
        check(ours, io[f"head.{key}"], f"head.{key}")

    # hph: the Human Prediction Head on the recorded queries and feature maps
    det = idx[:3].T
    img, row, col = det.unbind(-1)
    x_central = io["hph.in.x_central"] + head.cross_queries_x[row] + head.cross_queries_y[col]
    first = torch.searchsorted(img, torch.arange(x.shape[0]))  # kv holds one copy of its image map per person
    context = io["hph.in.kv"][first].permute(0, 2, 3, 1)
    context = context.index_put((img, row, col), head.cross_values_x[row] + head.cross_values_y[col],
                                accumulate=True).flatten(1, 2)
    hph = head.predict(x_central, context, det)
    check(hph["rotmat"][:, :1], io["hph.out.global_orient"], "hph.out.global_orient")
    check(hph["rotmat"][:, 1:], io["hph.out.body_pose"], "hph.out.body_pose")
    check(hph["betas"], io["hph.out.betas"], "hph.out.betas")
    check(hph["expression"], io["hph.out.expression"], "hph.out.expression")
    check(hph["cam"], io["hph.out.pred_cam"], "hph.out.pred_cam")


@torch.no_grad()
def test_multi_hmr_anny_parity(fixtures_root):
    from importlib.metadata import version

    assert version("anny") == "0.2.0", (f"the multi_hmr_anny fixture was made with anny 0.2.0 (installed: "
                                        f"{version('anny')}); upstream's Anny code needs it: pip install anny==0.2.0")
    torch.set_num_threads(1)
    fx, model = load(fixtures_root, "multi_hmr_anny")
    io = fx.io
    x = io["x"]

    # train_path_given_idx_and_K: given intrinsics and detections, the raw outputs (incl. Anny meshes)
    out = model(x, intrinsics=io["K"], detections=io["train.idx"].T)
    pairs = {"scores": out.scores, "scores_logits": out.detection_logits, "K_regressed": out.regressed_intrinsics,
             "fov_regressed": out.fov, "loc": out.centers_2d, "offset": out.offset, "dist": out.depth,
             "dist_postprocessed": out.depth_raw, "shape": out.betas, "rotvec": out.rotvec, "rotmat": out.rotmat,
             "v3d": out.vertices, "j3d": out.joints_3d, "j2d": out.joints_2d, "transl": out.translation,
             "transl_pelvis": out.translation_pelvis[:, None], "blendshape_coeffs": out.blendshape_coeffs,
             "feat": out.last_hidden_state.reshape(io["train.feat"].shape)}
    for key, ours in pairs.items():
        check(ours, io[f"train.{key}"], f"train.{key}")
    assert torch.equal(suppress_non_maxima(out.scores, 3).ge(0.583722).nonzero().T, io["train.idx"])

    # inference_regressed_K: K=None -> the regressed camera; upstream sorts people by depth (closest first)
    out = model(x, detection_threshold=0.583722, nms_kernel_size=3)
    assert out.detections[:, 0].tolist() == [0, 1, 1]
    order = torch.argsort(out.translation[:, 2])
    k_people = out.intrinsics[out.detections[:, 0]]
    pairs = {"K": k_people, "K_regressed": out.regressed_intrinsics[out.detections[:, 0]], "loc": out.centers_2d,
             "transl": out.translation, "transl_pelvis": out.translation_pelvis[:, None], "rotvec": out.rotvec,
             "rotmat": out.rotmat, "shape": out.betas, "v3d": out.vertices, "j3d": out.joints_3d,
             "j2d": out.joints_2d}
    for key, ours in pairs.items():
        check(ours[order], io[f"infer.persons.{key}"], f"infer.persons.{key}")
    check(out.fov, io["infer.fov"], "infer.fov")
    assert model.faces.shape[1] == 3 and model.faces.dtype == torch.int64


def test_full_size_checkpoints_convert_key_for_key(fixtures_root):
    """Every released checkpoint (six SMPL-X, one Anny) maps key-for-key and shape-for-shape (meta device)."""
    seen = 0
    for name in ("multi_hmr", "multi_hmr_anny"):
        fx = Fixture(fixtures_root / name)
        assert fx.full_size_keys, f"{name}: full_size_keys.json missing"
        for filename, entry in fx.full_size_keys.items():
            keys = dict(entry["keys"])
            keys.update(entry.get("smpl_layer_keys_not_learned") or entry.get("body_model_keys_not_learned") or {})
            fake = {k: torch.empty(shape, device="meta") for k, shape in keys.items()}
            config = config_from_upstream_kwargs(entry["kwargs"], fake)
            converted = convert_state_dict(fake, config)  # raises on any missing/unexpected key or shape mismatch
            with torch.device("meta"):
                model = MultiHMRModel(config)
            learned = sum(p.numel() for p in model.parameters())
            # the position table is stored at the checkpoint's grid instead of DINOv2's 37x37
            upstream_pos = next(v for k, v in fake.items() if k.endswith("pos_embed")).numel()
            learned += upstream_pos - model.backbone.embeddings.position_embeddings.numel()
            if config.body_model == "anny":  # upstream keeps the constants eye/useful_rotmat as frozen Parameters
                learned += fake["eye"].numel() + fake["useful_rotmat"].numel()
            if "num_params" in entry:
                assert learned == entry["num_params"], f"{filename}: {learned} != {entry['num_params']}"
            assert converted, filename
            seen += 1
    assert seen == 7
