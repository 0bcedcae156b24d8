import numpy as np
import PIL.Image
import pytest
import torch

from nlv_hf.data.augment import (IMAGENET_MEAN, IMAGENET_STD, CroCoPairTransform, adjust_brightness,
                                 adjust_contrast, adjust_saturation)


def _images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)


def test_output_and_determinism():
    a, b = _images()
    tf = CroCoPairTransform(32, seed=3)
    out = tf(a, b, index=5)
    assert set(out) == {"pixel_values", "pixel_values_2"}
    assert out["pixel_values"].shape == (3, 32, 32) and out["pixel_values"].dtype == torch.float32
    again = CroCoPairTransform(32, seed=3)(a, b, index=5)
    torch.testing.assert_close(out["pixel_values"], again["pixel_values"], rtol=0, atol=0)
    other_index = tf(a, b, index=6)
    assert not torch.equal(out["pixel_values"], other_index["pixel_values"])
    tf.set_epoch(1)
    assert not torch.equal(out["pixel_values"], tf(a, b, index=5)["pixel_values"])  # fresh randomness per epoch


def test_crops_are_independent_per_image():
    a, _ = _images()
    tf = CroCoPairTransform(24, color_jitter=False)
    differ = [not torch.equal(*tf(a, a, index=i).values()) for i in range(6)]
    assert any(differ)  # the same image gets different crops for its two roles


def test_no_jitter_centre_crop_is_plain_normalisation():
    a, b = _images()
    out = CroCoPairTransform((32, 40), random_crop=False, color_jitter=False)(PIL.Image.fromarray(a), b)
    crop = torch.from_numpy(a[4:36, 4:44].copy()).permute(2, 0, 1).float() / 255
    expected = (crop - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(out["pixel_values"], expected)


def test_colour_ops():
    img = torch.rand(3, 8, 8)
    torch.testing.assert_close(adjust_brightness(img, 1.0), img)
    torch.testing.assert_close(adjust_contrast(img, 1.0), img)
    torch.testing.assert_close(adjust_saturation(img, 1.0), img)
    gray = adjust_saturation(img, 0.0)
    torch.testing.assert_close(gray[0], gray[1])
    flat = adjust_contrast(img, 0.0)
    assert torch.allclose(flat, flat.flatten()[0].expand_as(flat))
    assert adjust_brightness(img, 3.0).max() <= 1.0


@pytest.mark.parametrize("kwargs, message", [
    (dict(crop_size=0), "crop_size"),
    (dict(crop_size=(8, 8, 8)), "crop_size"),
    (dict(crop_size=8, brightness=(1.4, 0.6)), "brightness"),
    (dict(crop_size=8, contrast=0.5), "contrast"),
    (dict(crop_size=8, seed=-1), "seed"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CroCoPairTransform(**kwargs)


def test_bad_images():
    a, b = _images()
    tf = CroCoPairTransform(64)
    with pytest.raises(ValueError, match="smaller than the crop size"):
        tf(a, b)
    with pytest.raises(ValueError, match="uint8"):
        CroCoPairTransform(16)(a.astype(np.float32), b)
    with pytest.raises(ValueError, match="image_2"):
        CroCoPairTransform(16)(a, "not an image")
