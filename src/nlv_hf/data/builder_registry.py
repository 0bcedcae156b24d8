"""Find a stereo / optical-flow dataset builder of ``dataset_scripts/`` by name (for ``nlv-hf train|eval
--dataset <name>``). The scripts live beside the package in the repository (``<repo>/dataset_scripts/<name>/<name>.py``)
or in ``./dataset_scripts`` of the working directory."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# name -> (builder class, task)
STEREO_FLOW_BUILDERS = {
    "middlebury": ("Middlebury", "stereo"),
    "eth3d": ("ETH3D", "stereo"),
    "kitti": ("KITTI", None),  # stereo and flow configs
    "sceneflow": ("SceneFlow", "stereo"),
    "sintel": ("Sintel", "flow"),
    "flyingchairs": ("FlyingChairs", "flow"),
    "spring": ("Spring", None),
}

_SEARCH = (Path(__file__).resolve().parents[3] / "dataset_scripts", Path.cwd() / "dataset_scripts")


def builder_class(name: str):
    """The builder class of ``dataset_scripts/<name>/<name>.py``."""
    if name not in STEREO_FLOW_BUILDERS:
        raise ValueError(f"unknown stereo/flow dataset {name!r}; accepted: {sorted(STEREO_FLOW_BUILDERS)}")
    module_name = f"dataset_scripts.{name}.{name}"
    if module_name not in sys.modules:
        path = next((root / name / f"{name}.py" for root in _SEARCH if (root / name / f"{name}.py").is_file()), None)
        if path is None:
            raise ValueError(f"cannot find dataset_scripts/{name}/{name}.py (looked in "
                             f"{', '.join(str(root) for root in _SEARCH)}); run from the repository root")
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[module_name]
            raise
    return getattr(sys.modules[module_name], STEREO_FLOW_BUILDERS[name][0])


def load_stereo_flow_split(name: str, data_dir: str, task: str, split: str = "train", config_name: str | None = None,
                           cache_dir: str | None = None):
    """Prepare the builder ``name`` on ``data_dir`` and return its ``split`` (a ``datasets.Dataset`` with
    :func:`nlv_hf.data.builders.to_model_inputs` applied). ``task`` ("stereo" / "flow") must match the config's."""
    cls = builder_class(name)
    kwargs = {"data_dir": str(data_dir)}
    if config_name:
        kwargs["config_name"] = config_name
    elif name in ("kitti", "spring") and task == "stereo":
        kwargs["config_name"] = {"kitti": "2015", "spring": "stereo"}[name]
    elif name == "kitti" and task == "flow":
        kwargs["config_name"] = "2015_flow"
    if cache_dir:
        kwargs["cache_dir"] = str(cache_dir)
    builder = cls(**kwargs)
    if builder.config.task != task:
        raise ValueError(f"dataset {name!r} config {builder.config.name!r} is a {builder.config.task} data set, but "
                         f"the model does {task}; pick another --dataset_config")
    builder.download_and_prepare()
    splits = builder.as_dataset()
    if split not in splits:
        raise ValueError(f"dataset {name!r} has no split {split!r}; available: {sorted(splits)}")
    from .builders import to_model_inputs

    return splits[split].with_transform(to_model_inputs)


__all__ = ["STEREO_FLOW_BUILDERS", "builder_class", "load_stereo_flow_split"]
