"""Shared machinery of the converters from official checkpoints: safe loading, key renaming, strict checks and
atomic output folders. Each method's ``convert_<method>_original.py`` supplies its own rename table and config."""

from __future__ import annotations

import argparse
import ast
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch


class ConversionError(ValueError):
    """A checkpoint cannot be converted; the message names the problem and what is accepted."""


def safe_load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a torch checkpoint without unpickling arbitrary code.

    ``weights_only=True`` with one extra allowed type, ``argparse.Namespace`` (upstream training scripts store their
    arguments that way). Anything else that needs code execution is refused with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"checkpoint file not found: {path}")
    if path.stat().st_size == 0:
        raise ConversionError(f"checkpoint file is empty: {path}")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, EOFError, BadZipFile, RuntimeError...
        message = str(err)
        if "Weights only load failed" in message or "Unsupported global" in message:
            detail = next((line.strip() for line in message.splitlines() if "Unsupported global" in line), "")
            raise ConversionError(
                f"{path} contains Python objects other than tensors, containers and argparse.Namespace; refusing "
                f"to unpickle arbitrary code. {detail}"
            ) from err
        raise ConversionError(
            f"could not read {path} as a torch checkpoint (corrupt, truncated, or not a .pth file): {err}"
        ) from err
    if not isinstance(obj, Mapping):
        raise ConversionError(f"{path} holds a {type(obj).__name__}, expected a dict checkpoint")
    return dict(obj)


def parse_constructor_call(text: str, class_name: str) -> dict:
    """Read the keyword arguments of a constructor string such as ``"CroCoNet(enc_depth=24, pos_embed='RoPE100')"``
    with ``ast.literal_eval`` semantics (never ``eval``)."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as err:
        raise ConversionError(f"cannot parse the model string {text!r}: {err}") from err
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == class_name):
        raise ConversionError(f"expected a {class_name}(...) model string, got {text!r}")
    if node.args:
        raise ConversionError(f"positional arguments in {text!r} are not supported; expected keyword arguments")
    try:
        return {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
    except ValueError as err:
        raise ConversionError(f"non-literal argument in the model string {text!r}") from err


def rename_state_dict(state_dict: Mapping[str, torch.Tensor], rules: Iterable[tuple[str, str]]) -> dict:
    """Apply the first matching ``(regex, replacement)`` rule to every key; a key no rule matches is an error."""
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    out, unknown = {}, []
    for key, value in state_dict.items():
        for pattern, repl in compiled:
            if pattern.match(key):
                out[pattern.sub(repl, key, count=1)] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise ConversionError(f"unexpected keys in the checkpoint (no rename rule): {sorted(unknown)[:20]}"
                              + (f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""))
    return out


def check_state_dict(expected: Mapping[str, torch.Size], state_dict: Mapping[str, torch.Tensor]) -> None:
    """Strict key-and-shape check of a converted state dict against the keys a model expects."""
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k])}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k])
    )
    problems = []
    if missing:
        problems.append(f"missing keys: {missing}")
    if unexpected:
        problems.append(f"unexpected keys: {unexpected}")
    if wrong:
        problems.append(f"shape mismatches: {wrong}")
    if problems:
        raise ConversionError("checkpoint does not match the model; " + "; ".join(problems))


def expected_shapes(model: torch.nn.Module) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in model.state_dict().items()}


@contextlib.contextmanager
def atomic_output_dir(out_dir: str | os.PathLike, overwrite: bool = False):
    """Yield a temporary folder beside ``out_dir`` and move it into place only if the block succeeds, so a failed
    conversion never leaves a half-written output folder."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise ConversionError(f"output folder {out_dir} exists and is not empty (pass overwrite=True / --overwrite)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)


def load_original_cached(cls, path_or_url: str | os.PathLike, family: str, convert: Callable[[Path, Path], object],
                         cache_dir: str | os.PathLike | None = None, **kwargs):
    """What every ``Model.from_original`` does: fetch ``path_or_url`` (URLs are downloaded once into the cache),
    convert it once with ``convert(checkpoint_path, out_folder)`` into a cache folder keyed by the file's path, size
    and mtime, then ``cls.from_pretrained`` that folder. The cache is ``cache_dir`` or :func:`nlv_hf.hub.nlv_cache_dir`."""
    from .hub import nlv_cache_dir

    cache = Path(cache_dir) if cache_dir else nlv_cache_dir()
    src = str(path_or_url)
    if src.startswith(("http://", "https://")):
        path = cache / "downloads" / hashlib.sha256(src.encode()).hexdigest()[:16] / src.rsplit("/", 1)[-1]
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(src, str(path), progress=False)
    else:
        path = Path(src)
    if not path.is_file():
        raise ConversionError(f"checkpoint file not found: {path}")
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    folder = cache / "converted" / family / key
    if not (folder / "config.json").is_file():
        convert(path, folder)
    return cls.from_pretrained(folder, **kwargs)
