"""Helpers to read the golden fixtures made by running the upstream code (../shared/fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file


class Fixture:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "upstream.json").read_text())
        self.io = load_file(self.folder / "io.safetensors")
        sd_path = self.folder / "state_dict.safetensors"
        self.state_dict = load_file(sd_path) if sd_path.exists() else None
        keys_path = self.folder / "full_size_keys.json"
        self.full_size_keys = json.loads(keys_path.read_text()) if keys_path.exists() else None

    @property
    def kwargs(self) -> dict:
        return self.meta["kwargs"]

    def call_names(self) -> list[str]:
        return [c["name"] for c in self.meta["calls"]]

    def outputs_of(self, name: str) -> list[str]:
        """Output tensor names of a call, with ``{i}`` patterns expanded to the stored indices."""
        call = next(c for c in self.meta["calls"] if c["name"] == name)
        names = []
        for out in call["outputs"]:
            if "{i}" in out:
                prefix, suffix = out.split("{i}")
                idx = sorted(int(k[len(prefix):len(k) - len(suffix) or None]) for k in self.io
                             if k.startswith(prefix) and k.endswith(suffix) and k[len(prefix):len(k) - len(suffix) or None].isdigit())
                names += [f"{prefix}{i}{suffix}" for i in idx]
            else:
                names.append(out)
        return names


def assert_close(actual: torch.Tensor, expected: torch.Tensor, name: str, atol: float = 1e-5):
    assert tuple(actual.shape) == tuple(expected.shape), f"{name}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    if expected.dtype in (torch.bool, torch.int64, torch.int32, torch.uint8):
        assert torch.equal(actual.to(expected.dtype), expected), f"{name}: integer/bool outputs differ"
        return
    diff = (actual.float() - expected.float()).abs().max().item() if expected.numel() else 0.0
    assert diff <= atol, f"{name}: max abs diff {diff:.3g} > {atol}"
