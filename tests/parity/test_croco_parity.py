"""Parity of CroCo (v1 cosine) and CroCo v2 (RoPE) with the upstream code, replaying every recorded call."""

import pytest
import torch

from fixture_utils import Fixture, assert_close
from nlv_hf.layers.rope import RotaryEmbedding2D
from nlv_hf.models.croco import CroCoForPretraining, masked_patch_mse_loss
from nlv_hf.models.croco.convert_croco_original import config_from_upstream_kwargs, convert_state_dict

FIXTURES = ["croco_v1", "croco_v2"]


def load(fixtures_root, name, **overrides):
    fx = Fixture(fixtures_root / name)
    config = config_from_upstream_kwargs(fx.kwargs, fx.state_dict, **overrides)
    model = CroCoForPretraining(config)
    model.load_state_dict(convert_state_dict(fx.state_dict, config), strict=True)
    return fx, model.eval()


@pytest.mark.parametrize("name", FIXTURES)
def test_every_call_is_replayed(fixtures_root, name):
    fx = Fixture(fixtures_root / name)
    covered = {"fix_mask", "encode_masked", "encode_ref", "encode_img1_unmasked", "encode_img1_all_blocks",
               "decoder", "decoder_all_blocks", "forward", "head", "loss_normpix", "loss_raw", "unpatchify",
               "interpolate_pos_embed", "rope_probe"}
    assert set(fx.call_names()) <= covered, f"calls without a replay: {set(fx.call_names()) - covered}"


@pytest.mark.parametrize("name", FIXTURES)
@torch.no_grad()
def test_croco_parity(fixtures_root, name):
    torch.set_num_threads(1)
    fx, model = load(fixtures_root, name)
    io = fx.io
    croco = model.croco
    img1, img2, mask1 = io["img1"], io["img2"], io["mask1"]
    assert mask1.dtype == torch.bool

    # encode_masked: visible tokens of img1 and positions of all its patches
    feat1, pos1, _, _ = croco.encode(img1, bool_masked_pos=mask1)
    assert_close(feat1, io["enc_feat1_masked"], "enc_feat1_masked")
    assert_close(pos1, io["pos1"], "pos1")
    # encode_ref
    feat2, pos2, _, _ = croco.encode(img2)
    assert_close(feat2, io["enc_feat2"], "enc_feat2")
    assert_close(pos2, io["pos2"], "pos2")
    # encode_img1_unmasked and every block (upstream: last block normed, others raw)
    last, _, _, hidden = croco.encode(img1, output_hidden_states=True)
    assert_close(last, io["enc_feat1_unmasked"], "enc_feat1_unmasked")
    blocks = fx.outputs_of("encode_img1_all_blocks")
    assert len(blocks) == model.config.encoder_num_hidden_layers
    for i, key in enumerate(blocks):
        ours = last if i == len(blocks) - 1 else hidden[i + 1]
        assert_close(ours, io[key], key)
    # decoder (+ every block)
    dec, dec_hidden = croco.decode(io["enc_feat1_masked"], io["pos1"], mask1, io["enc_feat2"], io["pos2"],
                                   output_hidden_states=True)
    assert_close(dec, io["dec_out"], "dec_out")
    blocks = fx.outputs_of("decoder_all_blocks")
    assert len(blocks) == model.config.decoder_num_hidden_layers
    for i, key in enumerate(blocks):
        ours = dec if i == len(blocks) - 1 else dec_hidden[i + 1]
        assert_close(ours, io[key], key)
    # forward with the fixed mask
    out = model(img1, img2, bool_masked_pos=mask1)
    assert_close(out.logits, io["pred"], "pred")
    assert torch.equal(out.bool_masked_pos, mask1)
    assert_close(model.patchify(img1), io["target"], "target")
    # head
    assert_close(model.prediction_head(io["dec_out"]), io["head_on_dec_out"], "head_on_dec_out")
    # both loss variants (the unbiased-variance normalised-pixel loss is the default)
    assert_close(masked_patch_mse_loss(io["pred"], io["target"], mask1, True), io["loss_normpix"], "loss_normpix")
    assert_close(masked_patch_mse_loss(io["pred"], io["target"], mask1, False), io["loss_raw"], "loss_raw")
    assert_close(out.loss, io["loss_normpix"], "forward loss")
    # unpatchify
    assert_close(model.unpatchify(io["pred"]), io["unpatchify_pred"], "unpatchify_pred")

    if "rope_probe" in fx.call_names():
        tokens = io["rope_probe_tokens"]
        rope = RotaryEmbedding2D(tokens.shape[-1], base=model.config.rope_base)
        assert_close(rope.rotate(tokens, io["pos2"]), io["rope_probe_out"], "rope_probe_out")


@torch.no_grad()
def test_croco_v1_pos_embed_resize(fixtures_root):
    """Upstream interpolate_pos_embed (bicubic 8x8 -> 12x12) happens when converting at another image size."""
    fx, model = load(fixtures_root, "croco_v1", image_size=96)
    assert model.config.grid_size == (12, 12)
    sd = model.state_dict()
    assert_close(sd["croco.encoder.pos_embed"], fx.io["interp_enc_pos_embed"], "interp_enc_pos_embed")
    assert_close(sd["croco.decoder.pos_embed"], fx.io["interp_dec_pos_embed"], "interp_dec_pos_embed")


@torch.no_grad()
def test_croco_v1_runtime_resize_matches_converted_resize(fixtures_root):
    """Running the 64-px model at 96 px resizes its tables on the fly exactly like converting at 96 px."""
    _, model64 = load(fixtures_root, "croco_v1")
    _, model96 = load(fixtures_root, "croco_v1", image_size=96)
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3, 96, 96, generator=g), torch.randn(2, 3, 96, 96, generator=g)
    noise = torch.rand(2, 144, generator=g)
    out64 = model64(a, b, noise=noise)
    out96 = model96(a, b, noise=noise)
    assert_close(out64.logits, out96.logits, "logits at 96 px")


@pytest.mark.parametrize("name", FIXTURES)
def test_full_size_checkpoints_convert_key_for_key(fixtures_root, name):
    """Every released pretraining checkpoint maps key-for-key and shape-for-shape (built on the meta device)."""
    fx = Fixture(fixtures_root / name)
    assert fx.full_size_keys, "full_size_keys.json missing"
    for filename, entry in fx.full_size_keys.items():
        fake = {k: torch.empty(shape, device="meta") for k, shape in entry["keys"].items()}
        stored_kwargs = entry["kwargs_as_passed"] if filename != "CroCo.pth" else None
        config = config_from_upstream_kwargs(stored_kwargs, fake)
        assert config.image_size == [entry["kwargs"]["img_size"]] * 2
        converted = convert_state_dict(fake, config)  # raises on any missing/unexpected key or shape mismatch
        assert len(converted) == len(fake)
        with torch.device("meta"):
            model = CroCoForPretraining(config)
        assert sum(p.numel() for p in model.parameters()) == entry["num_params"], filename
