import pytest
import torch

from common.model_tester import ModelTesterMixin
from nlv_hf.models.croco import CroCoConfig, CroCoForPretraining, CroCoModel

TINY = dict(image_size=32, patch_size=8, encoder_hidden_size=32, encoder_num_hidden_layers=2,
            encoder_num_attention_heads=2, decoder_hidden_size=32, decoder_num_hidden_layers=2,
            decoder_num_attention_heads=2, mask_ratio=0.75)

INVALID = [
    (dict(pos_embed="sinus"), "pos_embed must be 'cosine' or 'RoPE"),
    (dict(image_size=30), "multiples of patch_size"),
    (dict(mask_ratio=1.0), "mask_ratio must be in"),
    (dict(encoder_num_attention_heads=3), "divisible by encoder_num_attention_heads"),
    (dict(decoder_hidden_size=24, decoder_num_attention_heads=4), "head dimension"),
    (dict(patch_size=0), "patch_size must be a positive integer"),
]


def croco_inputs(config, batch_size=2):
    g = torch.Generator().manual_seed(0)
    h, w = config.image_size
    n = config.num_patches
    return {
        "pixel_values": torch.randn(batch_size, 3, h, w, generator=g),
        "pixel_values_2": torch.randn(batch_size, 3, h, w, generator=g),
        "noise": torch.rand(batch_size, n, generator=g),
    }


class TestCroCoV2(ModelTesterMixin):
    config_class = CroCoConfig
    config_kwargs = {**TINY, "pos_embed": "RoPE100"}
    model_classes = (CroCoForPretraining, CroCoModel)
    loss_model_class = CroCoForPretraining
    invalid_config_kwargs = INVALID
    compile_fullgraph = True

    def get_inputs(self, config, batch_size=2):
        return croco_inputs(config, batch_size)


class TestCroCoV1(TestCroCoV2):
    config_kwargs = {**TINY, "pos_embed": "cosine"}
    # the RoPE-only head-dimension rule does not apply; cosine tables need widths divisible by 4 instead
    invalid_config_kwargs = [c for c in INVALID if c[1] != "head dimension"] + [
        (dict(decoder_hidden_size=18, decoder_num_attention_heads=2), "divisible by 4")
    ]


# ---------------------------------------------------------------------------------------------- model behaviour
def tiny(pos_embed="RoPE100", **kw):
    torch.manual_seed(0)
    return CroCoForPretraining(CroCoConfig(**{**TINY, "pos_embed": pos_embed, **kw})).eval()


@pytest.mark.parametrize("pos_embed", ["RoPE100", "cosine"])
def test_non_square_and_other_sizes(pos_embed):
    model = tiny(pos_embed)
    a, b = torch.randn(2, 3, 24, 48), torch.randn(2, 3, 24, 48)
    out = model(a, b)
    assert out.logits.shape == (2, 18, 8 * 8 * 3)
    assert out.bool_masked_pos.sum(1).tolist() == [13, 13]  # int(0.75 * 18)
    assert model.unpatchify(out.logits, image_size=(24, 48)).shape == (2, 3, 24, 48)
    torch.testing.assert_close(model.unpatchify(model.patchify(a), image_size=(24, 48)), a)


def test_masks_explicit_seeded_and_validated():
    model = tiny()
    a, b = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    g = torch.Generator().manual_seed(3)
    mask = model.croco.random_mask(2, 16, generator=g)
    assert mask.sum(1).tolist() == [12, 12]
    out1 = model(a, b, bool_masked_pos=mask)
    out2 = model(a, b, bool_masked_pos=mask)
    torch.testing.assert_close(out1.logits, out2.logits)
    torch.manual_seed(5)
    r1 = model(a, b)
    torch.manual_seed(5)
    r2 = model(a, b)
    assert torch.equal(r1.bool_masked_pos, r2.bool_masked_pos)
    uneven = mask.clone()
    uneven[0, ~mask[0]] = True
    with pytest.raises(ValueError, match="same number of patches"):
        model(a, b, bool_masked_pos=uneven)
    with pytest.raises(ValueError, match="bool_masked_pos must have shape"):
        model(a, b, bool_masked_pos=mask[:, :8])


def test_hidden_patches_do_not_leak_into_the_encoder():
    """Changing a hidden patch of image 1 must not change the prediction (only visible patches are encoded)."""
    model = tiny()
    a, b = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    mask = model.croco.random_mask(1, 16, generator=torch.Generator().manual_seed(0))
    hidden = int(mask[0].nonzero()[0])
    a2 = a.clone()
    row, col = divmod(hidden, 4)
    a2[..., row * 8:(row + 1) * 8, col * 8:(col + 1) * 8] += 5.0
    with torch.no_grad():
        torch.testing.assert_close(model(a, b, bool_masked_pos=mask).logits, model(a2, b, bool_masked_pos=mask).logits)


def test_model_outputs_and_batched_encoding_agree():
    torch.manual_seed(0)
    base = CroCoModel(CroCoConfig(**TINY, pos_embed="RoPE100")).eval()
    a, b = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        fast = base(a, b)  # one batched encoder pass
        slow = base(a, b, output_hidden_states=True)  # separate passes
    torch.testing.assert_close(fast.last_hidden_state, slow.last_hidden_state, rtol=1e-5, atol=1e-5)
    assert len(slow.encoder_hidden_states) == 3 and len(slow.decoder_hidden_states) == 3
    assert not fast.bool_masked_pos.any()
    assert fast.positions.shape == (2, 16, 2)
    assert isinstance(base(a, b, return_dict=False), tuple)


def test_reconstruct_pastes_visible_patches():
    model = tiny()
    a, b = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    out = model(a, b, noise=torch.rand(1, 16))
    image = model.reconstruct(out.logits, a, out.bool_masked_pos)
    visible = ~out.bool_masked_pos[0]
    torch.testing.assert_close(model.patchify(image)[0, visible], model.patchify(a)[0, visible])


@pytest.mark.parametrize(
    "args, message",
    [
        ((torch.randn(1, 1, 32, 32), torch.randn(1, 3, 32, 32)), "pixel_values must be a"),
        ((torch.randn(1, 3, 32, 32), torch.randn(2, 3, 32, 32)), "same batch size"),
        ((torch.randn(1, 3, 30, 32), torch.randn(1, 3, 30, 32)), "multiple of the patch size"),
        ((torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.randn(1, 3, 32, 32)), "floating-point"),
    ],
)
def test_bad_inputs(args, message):
    with pytest.raises(ValueError, match=message):
        tiny()(*args)


@torch.no_grad()
def test_flex_attention_matches_sdpa():
    model = tiny()
    a, b, noise = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    reference = model(a, b, noise=noise).logits
    model.set_attn_implementation("flex_attention")
    torch.testing.assert_close(model(a, b, noise=noise).logits, reference, rtol=1e-5, atol=1e-5)
