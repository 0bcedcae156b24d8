"""Common model test suite, reused by every model (in the spirit of transformers' ``ModelTesterMixin``).

A test class mixes in :class:`ModelTesterMixin` and defines:

* ``model_classes``: the ``PreTrainedModel`` classes to check;
* ``loss_model_class``: the class whose output carries ``loss`` (Trainer / backward tests);
* ``config_class`` and ``config_kwargs``: a tiny configuration;
* ``get_inputs(config, batch_size)``: deterministic keyword inputs for ``model(**inputs)`` (include whatever makes
  the forward deterministic, e.g. mask noise, and the labels the loss needs);
* ``invalid_config_kwargs``: list of (kwargs, substring expected in the ValueError message).
"""

from __future__ import annotations

import copy

import pytest
import torch
import transformers
from transformers import AutoConfig, AutoModel, Trainer, TrainingArguments

import nlv_hf  # noqa: F401  (registers the Auto classes)


def main_tensor(outputs) -> torch.Tensor:
    for name in ("logits", "last_hidden_state", "pred", "predictions"):
        value = outputs.get(name) if hasattr(outputs, "get") else None
        if isinstance(value, torch.Tensor):
            return value
    return next(v for v in outputs.values() if isinstance(v, torch.Tensor) and v.is_floating_point())


class ModelTesterMixin:
    model_classes: tuple = ()
    loss_model_class = None
    config_class = None
    config_kwargs: dict = {}
    invalid_config_kwargs: list = []
    compile_atol = 1e-4
    compile_fullgraph = False  # set True where the forward must compile without graph breaks

    # ------------------------------------------------------------------ to be provided by the test class
    def get_config(self):
        return self.config_class(**self.config_kwargs)

    def get_inputs(self, config, batch_size: int = 2) -> dict:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def build(self, cls, config=None, **kwargs):
        torch.manual_seed(0)
        model = cls(config or self.get_config(), **kwargs)
        return model.eval()

    def forward(self, model, inputs):
        with torch.no_grad():
            return main_tensor(model(**inputs))

    # ------------------------------------------------------------------ tests
    def test_save_load_roundtrip(self, tmp_path):
        for cls in self.model_classes:
            model = self.build(cls)
            inputs = self.get_inputs(model.config)
            before = self.forward(model, inputs)
            model.save_pretrained(tmp_path / cls.__name__)
            assert (tmp_path / cls.__name__ / "model.safetensors").is_file()
            reloaded = cls.from_pretrained(tmp_path / cls.__name__).eval()
            for key, value in model.state_dict().items():
                assert torch.equal(value, reloaded.state_dict()[key]), f"{cls.__name__}: {key} changed on reload"
            torch.testing.assert_close(self.forward(reloaded, inputs), before, rtol=0, atol=0)
            assert reloaded.config.to_diff_dict() == model.config.to_diff_dict()

    def test_auto_class_loading(self, tmp_path):
        config = self.get_config()
        assert isinstance(AutoConfig.for_model(config.model_type), type(config))
        for cls in self.model_classes:
            model = self.build(cls)
            model.save_pretrained(tmp_path / cls.__name__)
            loaded_config = AutoConfig.from_pretrained(tmp_path / cls.__name__)
            assert type(loaded_config) is type(config)
            base = AutoModel.from_pretrained(tmp_path / cls.__name__)
            assert type(base).__name__ == type(AutoModel.from_config(config)).__name__

    def test_eager_vs_sdpa(self):
        for cls in self.model_classes:
            sdpa = self.build(cls)
            assert sdpa.config._attn_implementation == "sdpa"
            inputs = self.get_inputs(sdpa.config)
            out_sdpa = self.forward(sdpa, inputs)
            sdpa.set_attn_implementation("eager")
            assert sdpa.config._attn_implementation == "eager"
            torch.testing.assert_close(self.forward(sdpa, inputs), out_sdpa, rtol=1e-5, atol=1e-5)

    def test_bf16_forward(self):
        for cls in self.model_classes:
            model = self.build(cls)
            inputs = self.get_inputs(model.config)
            reference = self.forward(model, inputs)
            model = model.to(torch.bfloat16)
            inputs_bf16 = {k: v.to(torch.bfloat16) if isinstance(v, torch.Tensor) and v.is_floating_point() and k != "noise"
                           else v for k, v in inputs.items()}
            out = self.forward(model, inputs_bf16)
            assert out.dtype == torch.bfloat16
            assert torch.isfinite(out.float()).all()
            # bf16 keeps ~3 significant digits: compare relative to the output scale
            scale = reference.abs().max().clamp_min(1.0)
            assert (out.float() - reference).abs().max() / scale < 0.1

    def test_torch_compile(self):
        cls = self.model_classes[0]
        model = self.build(cls)
        inputs = self.get_inputs(model.config)
        reference = self.forward(model, inputs)
        compiled = torch.compile(model, fullgraph=self.compile_fullgraph)
        torch.testing.assert_close(self.forward(compiled, inputs), reference, rtol=self.compile_atol,
                                   atol=self.compile_atol)

    def test_activation_checkpointing_backward(self):
        cls = self.loss_model_class
        plain = self.build(cls).train()
        ckpt = copy.deepcopy(plain)
        ckpt.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        assert any(getattr(m, "gradient_checkpointing", False) for m in ckpt.modules())
        inputs = self.get_inputs(plain.config)
        plain(**inputs).loss.backward()
        ckpt(**inputs).loss.backward()
        grads = 0
        for (name, p1), (_, p2) in zip(plain.named_parameters(), ckpt.named_parameters()):
            if p1.grad is None:
                continue
            grads += 1
            torch.testing.assert_close(p2.grad, p1.grad, rtol=1e-4, atol=1e-5, msg=name)
        assert grads > 0

    def test_trainer_loss_decreases(self, tmp_path):
        model = self.build(self.loss_model_class).train()
        batch = self.get_inputs(model.config, batch_size=2)
        rows = [{k: v[i] for k, v in batch.items()} for i in range(2)]
        dataset = rows * 8

        def collate(features):
            return {k: torch.stack([f[k] for f in features]) for k in features[0]}

        args = TrainingArguments(
            output_dir=str(tmp_path / "trainer"), max_steps=12, per_device_train_batch_size=2, learning_rate=2e-3,
            warmup_steps=0, weight_decay=0.0, report_to="none", remove_unused_columns=False, use_cpu=True,
            disable_tqdm=True, logging_steps=1, save_strategy="no", eval_strategy="no", dataloader_num_workers=0,
            seed=0,
        )
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collate)
        trainer.remove_callback(transformers.trainer_callback.PrinterCallback)
        trainer.train()
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        assert len(losses) >= 10
        first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
        assert last < 0.9 * first, f"loss did not fall: {losses}"

    def test_bad_config(self):
        assert self.invalid_config_kwargs, "list some invalid configurations"
        for kwargs, message in self.invalid_config_kwargs:
            with pytest.raises(ValueError, match=message):
                self.config_class(**{**self.config_kwargs, **kwargs})
