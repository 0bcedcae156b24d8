"""Hub-ready export: weights + config + processor config + model card + self-contained remote code.

The exported folder loads three ways:

* ``AutoModel.from_pretrained(folder)`` after ``import nlv_hf``;
* ``AutoModel.from_pretrained("<org>/<name>")`` from a Hugging Face cache holding the folder (see
  :func:`populate_hf_cache`), offline;
* ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` *without* nlv_hf installed: the modelling code and
  every nlv_hf module it uses are copied next to the weights as flat files with relative imports.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import os
import re
import shutil
from pathlib import Path

PACKAGE = "nlv_hf"

DEFAULT_LICENSE = {
    "croco": "cc-by-nc-sa-4.0",
    "croco_stereo": "cc-by-nc-sa-4.0",
    "croco_flow": "cc-by-nc-sa-4.0",
    "multi_hmr": "other",  # Multi-HMR: NAVER non-commercial licence
}


def nlv_cache_dir() -> Path:
    """Where converted checkpoints are cached: ``$NLV_HF_CACHE`` or ``$HF_HOME/nlv_hf``."""
    if os.environ.get("NLV_HF_CACHE"):
        return Path(os.environ["NLV_HF_CACHE"])
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(hf_home) / "nlv_hf"


# ------------------------------------------------------------------------------------------------ remote code
def flat_module_name(module: str) -> str:
    """``nlv_hf.models.croco.modeling_croco`` -> ``modeling_croco``; ``nlv_hf.layers.rope`` -> ``layers_rope``."""
    parts = module.split(".")[1:]
    if len(parts) == 3 and parts[0] == "models":
        return parts[2]
    return "_".join(parts)


def _absolute(module: str, level: int, name: str | None, is_package: bool) -> str:
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([name] if name else []))


def _nlv_imports(module: str) -> list[tuple[ast.ImportFrom, str, bool]]:
    """Every ``from <nlv_hf module> import ...`` in ``module`` as (node, absolute module, is_top_level)."""
    mod = importlib.import_module(module)
    tree = ast.parse(inspect.getsource(mod))
    is_package = Path(mod.__file__).name == "__init__.py"
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == PACKAGE for a in node.names):
            raise RuntimeError(f"{module}: use 'from {PACKAGE}.x import y' so the code can be exported as remote code")
        if isinstance(node, ast.ImportFrom):
            target = _absolute(module, node.level, node.module, is_package)
            if target.split(".")[0] != PACKAGE:
                continue
            top = id(node) in top_level
            if top and (target == PACKAGE or Path(importlib.import_module(target).__file__).name == "__init__.py"):
                raise RuntimeError(f"{module} imports from the package {target}; import from the defining "
                                   "module instead so the remote code stays self-contained")
            found.append((node, target, top))
    return found


def module_closure(modules: list[str]) -> list[str]:
    """All nlv_hf modules reachable from ``modules`` through module-level imports."""
    seen, todo = [], list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.append(module)
        todo.extend(target for _, target, top in _nlv_imports(module) if top)
    names = [flat_module_name(m) for m in seen]
    if len(set(names)) != len(names):
        raise RuntimeError(f"flat module names collide: {sorted(names)}")
    return sorted(seen)


def write_remote_code(modules: list[str], out_dir: str | os.PathLike) -> list[str]:
    """Copy the closure of ``modules`` into ``out_dir`` as flat files whose nlv_hf imports are relative.

    Function-level nlv_hf imports (tooling such as ``from_original``, which needs the installed package) become a
    ``raise ImportError`` naming the package, so the copied files import nothing that may be absent."""
    out_dir = Path(out_dir)
    written = []
    pattern = re.compile(r"from\s+[.\w]+\s+import")
    for module in module_closure(modules):
        lines = inspect.getsource(importlib.import_module(module)).splitlines(keepends=True)
        for node, target, top in _nlv_imports(module):
            first = lines[node.lineno - 1]
            if top:
                if not pattern.search(first):
                    raise RuntimeError(f"{module}:{node.lineno}: cannot rewrite {first.strip()!r}")
                lines[node.lineno - 1] = pattern.sub(f"from .{flat_module_name(target)} import", first, count=1)
            else:
                indent = first[: len(first) - len(first.lstrip())]
                lines[node.lineno - 1] = (f"{indent}raise ImportError(\"this feature needs the {PACKAGE} package "
                                          f"(pip install {PACKAGE}); it is not part of the remote code\")\n")
                for i in range(node.lineno, node.end_lineno):
                    lines[i] = "\n"
        filename = flat_module_name(module) + ".py"
        (out_dir / filename).write_text("".join(lines))
        written.append(filename)
    return written


def _auto_map(entry: dict) -> tuple[dict, dict]:
    def ref(cls):
        return f"{flat_module_name(cls.__module__)}.{cls.__name__}"

    model_map = {"AutoConfig": ref(entry["config"])}
    model_map.update({name: ref(cls) for name, cls in entry.items() if name.startswith("Auto")})
    proc_map = {"AutoImageProcessor": ref(entry["image_processor"])} if entry.get("image_processor") else {}
    return model_map, proc_map


# ------------------------------------------------------------------------------------------------ model cards
def default_model_card(model, model_id: str | None, source: str | None) -> str:
    from huggingface_hub import ModelCard, ModelCardData

    model_type = model.config.model_type
    name = model_id or f"{PACKAGE}/{model_type}"
    data = ModelCardData(
        license=DEFAULT_LICENSE.get(model_type, "other"),
        library_name="transformers",
        pipeline_tag="image-feature-extraction",
        tags=[PACKAGE, model_type, "naver-labs-europe"],
    )
    params = sum(p.numel() for p in model.parameters())
    body = f"""
# {name}

{type(model).__name__} ({params:,} parameters) converted with `{PACKAGE}` from the official checkpoint
`{source or 'unknown'}`. The conversion is checked by parity tests against the upstream code
(`tests/parity/` in {PACKAGE}); the weights keep their original licence ({data.license}, non-commercial use only).

```python
import {PACKAGE}  # registers the Auto classes (or pass trust_remote_code=True without {PACKAGE})
from transformers import AutoModel, AutoImageProcessor
model = AutoModel.from_pretrained("{name}")
processor = AutoImageProcessor.from_pretrained("{name}")
```
"""
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n{body}"))


def export_model(model, out_dir: str | os.PathLike, processor=None, model_id: str | None = None,
                 source: str | None = None, model_card: str | None = None) -> Path:
    """Write a Hub-ready folder for ``model`` (and its ``processor``) into ``out_dir`` (created if needed)."""
    from ._registration import auto_classes

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_type = model.config.model_type
    entry = auto_classes().get(model_type)
    if entry is None:
        raise ValueError(f"no nlv_hf model is registered for model_type {model_type!r}")
    model_map, proc_map = _auto_map(entry)
    model.config.auto_map = model_map
    model.save_pretrained(out_dir)
    if processor is not None:
        processor.auto_map = proc_map
        processor.save_pretrained(out_dir)
    modules = sorted({cls.__module__ for cls in entry.values() if isinstance(cls, type)})
    write_remote_code(modules, out_dir)
    card = model_card if model_card is not None else default_model_card(model, model_id, source)
    (out_dir / "README.md").write_text(card)
    return out_dir


def populate_hf_cache(folder: str | os.PathLike, repo_id: str, cache_dir: str | os.PathLike | None = None,
                      revision: str = "main") -> Path:
    """Place ``folder`` in a Hugging Face hub cache as the snapshot of ``repo_id`` at ``revision``, so that
    ``from_pretrained(repo_id)`` resolves it offline (``HF_HUB_OFFLINE=1``), e.g. to mirror converted checkpoints on
    air-gapped machines. ``cache_dir`` defaults to ``huggingface_hub.constants.HF_HUB_CACHE``."""
    from huggingface_hub import constants

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder} is not an exported model folder (no config.json)")
    cache = Path(cache_dir) if cache_dir else Path(constants.HF_HUB_CACHE)
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    digest = hashlib.sha1()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    commit = digest.hexdigest()
    snapshot = repo_dir / "snapshots" / commit
    if snapshot.exists():
        shutil.rmtree(snapshot)
    for path in files:
        target = snapshot / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
    (repo_dir / "refs" / revision).write_text(commit)
    return snapshot
