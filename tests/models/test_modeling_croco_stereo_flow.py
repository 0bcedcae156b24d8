"""CroCo-Stereo / CroCo-Flow models: the common model suite plus task-specific behaviour."""

import pytest
import torch

from common.model_tester import ModelTesterMixin
from nlv_hf.models.croco import CroCoFlowConfig, CroCoForOpticalFlow, CroCoForStereoMatching, CroCoStereoConfig
from nlv_hf.models.croco.losses_stereo_flow import confidence_loss

TINY = dict(image_size=(32, 64), encoder_hidden_size=32, encoder_num_hidden_layers=2, encoder_num_attention_heads=2,
            decoder_hidden_size=32, decoder_num_hidden_layers=3, decoder_num_attention_heads=2,
            dpt_layer_dims=[8, 8, 16, 16], dpt_feature_dim=16, dpt_last_dim=8)

INVALID = [
    (dict(patch_size=8), "patch_size 16"),
    (dict(image_size=(48, 64)), "multiples of 32"),
    (dict(dpt_hooks=[0, 1, 2, 9]), "dpt_hooks must be 4 block indices"),
    (dict(dpt_layer_dims=[8, 8, 16]), "dpt_layer_dims must be 4"),
    (dict(loss_type="huber"), "loss_type must be one of"),
    (dict(tile_conf_mode="conf_mean"), "tile_conf_mode must be"),
    (dict(tile_overlap=1.0), "tile_overlap must be in"),
    (dict(pos_embed="sinus"), "pos_embed must be 'cosine' or 'RoPE"),
]


def stereo_flow_inputs(config, batch_size=2):
    g = torch.Generator().manual_seed(0)
    h, w = config.image_size
    labels = 1.0 + 0.2 * torch.randn(batch_size, config.task_channels, h, w, generator=g)  # learnable in a few steps
    labels[:, :, :3, :5] = float("inf")  # invalid pixels
    return {
        "pixel_values": torch.randn(batch_size, 3, h, w, generator=g),
        "pixel_values_2": torch.randn(batch_size, 3, h, w, generator=g),
        "labels": labels,
    }


class TestCroCoStereo(ModelTesterMixin):
    config_class = CroCoStereoConfig
    config_kwargs = TINY
    model_classes = (CroCoForStereoMatching,)
    loss_model_class = CroCoForStereoMatching
    invalid_config_kwargs = INVALID
    compile_fullgraph = True

    def get_inputs(self, config, batch_size=2):
        return stereo_flow_inputs(config, batch_size)

    def test_torch_compile(self):
        """fullgraph (no graph breaks) with the aot_eager backend: inductor's CPU code generation for the DPT
        convolutions takes minutes on a 2-core CI box, and adds nothing about the model's traceability."""
        model = self.build(self.model_classes[0])
        inputs = self.get_inputs(model.config)
        reference = self.forward(model, inputs)
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
        torch.testing.assert_close(self.forward(compiled, inputs), reference, rtol=1e-5, atol=1e-5)


class TestCroCoFlow(TestCroCoStereo):
    config_class = CroCoFlowConfig
    model_classes = (CroCoForOpticalFlow,)
    loss_model_class = CroCoForOpticalFlow
    # the common suite is the same code path as stereo: run only what differs (shapes, loss, Auto mapping)
    test_torch_compile = None
    test_activation_checkpointing_backward = None
    test_eager_vs_sdpa = None
    test_trainer_loss_decreases = None  # the Trainer path is the stereo one; the flow loss is trained below


def test_flow_loss_falls_with_adamw():
    torch.manual_seed(0)
    model = CroCoForOpticalFlow(CroCoFlowConfig(**TINY)).train()
    inputs = stereo_flow_inputs(model.config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    losses = []
    for _ in range(8):
        loss = model(**inputs).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-2:]) < 0.8 * sum(losses[:2]), losses


def tiny(cls=CroCoForStereoMatching, **kw):
    torch.manual_seed(0)
    config_cls = CroCoStereoConfig if cls is CroCoForStereoMatching else CroCoFlowConfig
    return cls(config_cls(**{**TINY, **kw})).eval()


@torch.no_grad()
def test_outputs_split_prediction_and_confidence_at_other_sizes():
    model = tiny(CroCoForOpticalFlow)
    a, b = torch.randn(1, 3, 64, 96), torch.randn(1, 3, 64, 96)  # not the build size: RoPE runs at any size
    out = model(a, b, output_hidden_states=True)
    assert out.logits.shape == (1, 3, 64, 96)
    assert out.prediction.shape == (1, 2, 64, 96) and out.confidence.shape == (1, 64, 96)
    torch.testing.assert_close(out.confidence, out.logits[:, 2])
    assert len(out.encoder_hidden_states) == 2 and len(out.decoder_hidden_states) == 3
    assert out.loss is None
    assert isinstance(model(a, b, return_dict=False), tuple)


def test_configs_defaults_are_the_released_models():
    stereo, flow = CroCoStereoConfig(), CroCoFlowConfig()
    assert stereo.dpt_hooks == flow.dpt_hooks == [23, 27, 31, 35]
    assert stereo.num_output_channels == 2 and flow.num_output_channels == 3
    assert stereo.crop_size == [352, 704] and flow.crop_size == [320, 384]
    assert (stereo.loss_type, stereo.loss_a, stereo.loss_b) == ("laplacian_bounded2", 3.0, 3.0)
    assert (flow.loss_type, flow.loss_a, flow.loss_b, flow.loss_max_gtnorm) == ("laplacian_bounded", 0.25, 4.0,
                                                                                10000.0)
    with torch.device("meta"):
        assert sum(p.numel() for p in CroCoForStereoMatching(stereo).parameters()) == 437_417_890
    no_conf = CroCoStereoConfig(**TINY, loss_type="l1")
    assert not no_conf.with_confidence and no_conf.num_output_channels == 1


def test_loss_ignores_invalid_pixels_and_gradients_stay_finite():
    model = tiny().train()
    inputs = stereo_flow_inputs(model.config)
    out = model(**inputs)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    # the same loss as computing on the valid pixels only
    valid = torch.isfinite(inputs["labels"][:, 0])
    p, c, gt = out.prediction.detach()[:, 0], out.confidence.detach(), inputs["labels"][:, 0]
    c2 = 2 * 3.0 * (torch.sigmoid(c / 3.0) - 0.5)
    manual = ((p - gt).abs() / c2.exp() + c2)[valid].mean()
    torch.testing.assert_close(confidence_loss(out.prediction.detach(), inputs["labels"], c, "laplacian_bounded2", 3.0,
                                               3.0), manual)


@pytest.mark.parametrize("loss_type", ["laplacian", "laplacian_bounded", "l1"])
def test_other_losses(loss_type):
    model = tiny(loss_type=loss_type)
    inputs = stereo_flow_inputs(model.config)
    out = model(**inputs)
    assert torch.isfinite(out.loss)
    assert (out.confidence is None) == (loss_type == "l1")


@pytest.mark.parametrize(
    "args, message",
    [
        ((torch.randn(1, 3, 32, 64), torch.randn(1, 3, 32, 96)), "same size"),
        ((torch.randn(1, 3, 48, 64), torch.randn(1, 3, 48, 64)), "multiples of 32"),
        ((torch.randn(1, 1, 32, 64), torch.randn(1, 3, 32, 64)), "pixel_values must be a"),
    ],
)
def test_bad_inputs(args, message):
    with pytest.raises(ValueError, match=message):
        tiny()(*args)
    with pytest.raises(ValueError, match="labels must have shape"):
        tiny()(torch.randn(1, 3, 32, 64), torch.randn(1, 3, 32, 64), labels=torch.zeros(1, 2, 32, 64))


def test_backbone_initialised_from_pretraining():
    from nlv_hf.models.croco import CroCoConfig, CroCoForPretraining

    backbone = {k: v for k, v in TINY.items() if not k.startswith("dpt_")}
    torch.manual_seed(1)
    pretrained = CroCoForPretraining(CroCoConfig(**backbone, pos_embed="RoPE100", patch_size=16))
    model = tiny()
    model.load_pretrained_backbone(pretrained)
    for key, value in pretrained.croco.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[key], value)
    assert torch.equal(model.decoder.layers[0].attn.qkv.weight, pretrained.croco.decoder.layers[0].attn.qkv.weight)
    wider = CroCoForPretraining(CroCoConfig(**{**backbone, "encoder_hidden_size": 64}, pos_embed="RoPE100",
                                            patch_size=16))
    with pytest.raises(ValueError, match="does not match"):
        model.load_pretrained_backbone(wider)
