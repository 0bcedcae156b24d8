import numpy as np
import PIL.Image
import pytest
import torch

from nlv_hf.models.croco import CroCoConfig, CroCoForPretraining
from nlv_hf.models.croco.completion_croco import (
    complete_cross_view,
    hide_patches,
    load_croco_for_completion,
    side_by_side,
)
from nlv_hf.models.croco.image_processing_croco import CroCoImageProcessor

TINY = dict(image_size=32, patch_size=8, encoder_hidden_size=32, encoder_num_hidden_layers=1,
            encoder_num_attention_heads=2, decoder_hidden_size=32, decoder_num_hidden_layers=1,
            decoder_num_attention_heads=2, pos_embed="RoPE100", mask_ratio=0.75)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    torch.manual_seed(0)
    model = CroCoForPretraining(CroCoConfig(**TINY)).eval()
    folder = tmp_path_factory.mktemp("tiny_croco")
    model.save_pretrained(folder)
    CroCoImageProcessor(patch_size=8, size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
                        ).save_pretrained(folder)
    return folder


def _pair():
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    return PIL.Image.fromarray(big[:, :70]), PIL.Image.fromarray(big[:, 10:])


def test_hide_patches_paints_exactly_the_hidden_patches():
    image = PIL.Image.fromarray(np.full((16, 24, 3), 200, np.uint8))
    mask = torch.tensor([True, False, False, False, False, True])  # 2x3 grid of 8-px patches
    out = np.asarray(hide_patches(image, mask, 8, fill_rgb=(1, 2, 3)))
    assert (out[:8, :8] == [1, 2, 3]).all() and (out[8:, 16:] == [1, 2, 3]).all()
    assert (out[:8, 8:] == 200).all() and (out[8:, :16] == 200).all()
    with pytest.raises(ValueError, match="patch grid"):
        hide_patches(image, torch.zeros(5, dtype=torch.bool), 8)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        hide_patches(image, mask, 5)


def test_side_by_side_layout():
    a = PIL.Image.new("RGB", (10, 20), (255, 0, 0))
    b = PIL.Image.new("RGB", (5, 10), (0, 255, 0))
    out = side_by_side([a, b], gap=3)
    assert out.size == (18, 20)
    assert out.getpixel((0, 0)) == (255, 0, 0) and out.getpixel((14, 10)) == (0, 255, 0)
    assert out.getpixel((11, 10)) == (255, 255, 255)  # the gap
    with pytest.raises(ValueError, match="at least one image"):
        side_by_side([])


def test_complete_cross_view(tiny_folder):
    loaded = load_croco_for_completion(tiny_folder)
    assert "CroCo v2 (RoPE100)" in loaded.description and str(tiny_folder) in loaded.description
    first, second = _pair()
    result = complete_cross_view(loaded.model, loaded.processor, first, second, mask_ratio=0.5, seed=3)
    assert result.masked.size == result.reconstruction.size == result.original.size == (32, 32)
    assert result.bool_masked_pos.sum() == 8 and result.mask_fraction == 0.5 and np.isfinite(result.loss)
    # visible patches are pasted from the input; hidden ones are painted in the masked view and predicted
    pixel = np.asarray(result.original)
    recon = np.asarray(result.reconstruction)
    masked = np.asarray(result.masked)
    hidden = result.bool_masked_pos.reshape(4, 4).numpy().repeat(8, 0).repeat(8, 1)
    assert np.abs(recon[~hidden].astype(int) - pixel[~hidden]).max() <= 1
    assert (masked[hidden] == (64, 64, 64)).all() and (masked[~hidden] == pixel[~hidden]).all()
    assert result.side_by_side(gap=2).size == (4 * 32 + 3 * 2, 32)
    enlarged = result.side_by_side(gap=2, min_height=90)  # x3, nearest neighbour
    assert enlarged.size == (4 * 96 + 3 * 2, 96)
    assert np.array_equal(np.asarray(enlarged)[::3, 98:98 + 96:3], recon)
    assert result.side_by_side(gap=2, min_height=10).size == (4 * 32 + 3 * 2, 32)
    # the seed draws the mask: same seed, same mask; another seed, another mask
    again = complete_cross_view(loaded.model, loaded.processor, first, second, mask_ratio=0.5, seed=3)
    other = complete_cross_view(loaded.model, loaded.processor, first, second, mask_ratio=0.5, seed=4)
    assert torch.equal(again.bool_masked_pos, result.bool_masked_pos)
    assert not torch.equal(other.bool_masked_pos, result.bool_masked_pos)
    assert np.array_equal(np.asarray(again.reconstruction), recon)
    none_hidden = complete_cross_view(loaded.model, loaded.processor, first, second, mask_ratio=0.0)
    assert not none_hidden.bool_masked_pos.any() and none_hidden.loss == 0.0


def test_bad_inputs(tiny_folder, tmp_path):
    loaded = load_croco_for_completion(tiny_folder)
    first, second = _pair()
    for ratio in (1.0, -0.1, "half"):
        with pytest.raises(ValueError, match="mask_ratio must be"):
            complete_cross_view(loaded.model, loaded.processor, first, second, mask_ratio=ratio)
    with pytest.raises(ValueError, match="two images are needed"):
        complete_cross_view(loaded.model, loaded.processor, first, None)
    with pytest.raises(ValueError, match="seed must be"):
        complete_cross_view(loaded.model, loaded.processor, first, second, seed=-1)
    with pytest.raises(ValueError, match="checkpoint not found"):
        load_croco_for_completion(tmp_path / "nothing")
    with pytest.raises(ValueError, match="neither a local folder or file nor a reachable Hub model"):
        load_croco_for_completion("naver/no-such-croco-model")  # HF_HUB_OFFLINE=1 in tests
    with pytest.raises(ValueError, match="no config.json"):
        load_croco_for_completion(tmp_path)
    # a CroCoModel folder has no pixel head: refused with a message saying so
    model_only = tmp_path / "model_only"
    CroCoForPretraining.from_pretrained(tiny_folder).croco.save_pretrained(model_only)
    with pytest.raises(ValueError, match="pixel-prediction head"):
        load_croco_for_completion(model_only)


def test_official_checkpoint_file_loads_and_matches_upstream(fixtures_root, tmp_path):
    """An upstream-format .pth (the croco_v2 fixture's weights) goes through the converter; the completion it gives
    uses the upstream prediction on the fixture's inputs."""
    from fixture_utils import Fixture

    fx = Fixture(fixtures_root / "croco_v2")
    torch.save({"model": fx.state_dict, "croco_kwargs": fx.kwargs}, tmp_path / "CroCo_V2_tiny.pth")
    loaded = load_croco_for_completion(tmp_path / "CroCo_V2_tiny.pth")
    assert "CroCo v2 (RoPE100)" in loaded.description and "CroCo_V2_tiny.pth" in loaded.description
    size = loaded.model.config.image_size
    assert loaded.processor.crop_size == {"height": size[0], "width": size[1]}
    with torch.no_grad():
        out = loaded.model(fx.io["img1"], fx.io["img2"], bool_masked_pos=fx.io["mask1"])
    torch.testing.assert_close(out.logits, fx.io["pred"], rtol=0, atol=1e-5)
