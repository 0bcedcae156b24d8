"""``nlv-hf demo``: serve every Space of the repository as one Gradio app, one tab per Space.

A Space is a folder ``spaces/<name>/`` whose ``app.py`` defines ``build_demo(checkpoint=None, ...)`` returning a
``gr.Blocks`` (and optionally ``TITLE``, the tab label). ``--checkpoint name=path`` passes weights to one Space.

    nlv-hf demo [--port 7860] [--host 127.0.0.1] [--checkpoint croco=/path/to/converted] [--only croco]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback
from pathlib import Path

SPACES_ENV = "NLV_SPACES_DIR"


def default_spaces_dir() -> Path:
    """``$NLV_SPACES_DIR``, else ``spaces/`` of the repository this package was installed from (editable install),
    else ``./spaces``."""
    if os.environ.get(SPACES_ENV):
        return Path(os.environ[SPACES_ENV])
    beside_source = Path(__file__).resolve().parents[2] / "spaces"
    if beside_source.is_dir():
        return beside_source
    return Path.cwd() / "spaces"


def discover_spaces(spaces_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """``{name: path of app.py}`` for every ``<spaces_dir>/<name>/app.py`` that defines ``build_demo``, sorted."""
    root = Path(spaces_dir) if spaces_dir is not None else default_spaces_dir()
    if not root.is_dir():
        raise ValueError(f"no Spaces folder at {root}; run from a clone of the repository or set {SPACES_ENV}")
    found = {}
    for app in sorted(root.glob("*/app.py")):
        if "def build_demo(" in app.read_text(encoding="utf-8"):
            found[app.parent.name] = app
    return found


def load_space(app_path: str | os.PathLike):
    """Import a Space's ``app.py`` as module ``nlv_hf_space_<name>`` (without running its ``__main__``)."""
    app_path = Path(app_path)
    name = f"nlv_hf_space_{app_path.parent.name}"
    spec = importlib.util.spec_from_file_location(name, app_path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {app_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    if not callable(getattr(module, "build_demo", None)):
        raise ValueError(f"{app_path} does not define build_demo()")
    return module


def parse_checkpoints(items: list[str] | None) -> dict[str, str]:
    """``["croco=/path", ...]`` → ``{"croco": "/path"}``; a malformed item raises ``ValueError``."""
    checkpoints = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--checkpoint takes SPACE=PATH (e.g. croco=./croco-v2-vitl-base), got {item!r}")
        checkpoints[name.strip()] = path.strip()
    return checkpoints


def build_app(spaces_dir: str | os.PathLike | None = None, checkpoints: dict[str, str] | None = None,
              only: list[str] | None = None):
    """One ``gr.Blocks`` with a tab per Space. A Space that fails to build gets a tab that shows the error."""
    import gradio as gr

    spaces = discover_spaces(spaces_dir)
    checkpoints = dict(checkpoints or {})
    for name in list(checkpoints) + list(only or []):
        if name not in spaces:
            raise ValueError(f"unknown Space {name!r}; available: {', '.join(spaces) or 'none'}")
    if only:
        spaces = {name: path for name, path in spaces.items() if name in only}
    if not spaces:
        raise ValueError(f"no Space with an app.py defining build_demo() under {spaces_dir or default_spaces_dir()}")

    tabs = []
    for name, app_path in spaces.items():
        kwargs = {"checkpoint": checkpoints[name]} if name in checkpoints else {}
        try:
            module = load_space(app_path)
            tabs.append((name, getattr(module, "TITLE", name), module.build_demo(**kwargs), None))
        except Exception as err:  # noqa: BLE001 - shown on the page and on stderr, the other Spaces still run
            traceback.print_exc()
            tabs.append((name, name, None, f"{type(err).__name__}: {err}"))

    with gr.Blocks(title="nlv_hf demos") as app:
        gr.Markdown("# nlv_hf: NAVER LABS Europe research models\nOne tab per method. Each page says which "
                    "weights it runs.")
        with gr.Tabs():
            for name, label, demo, error in tabs:
                with gr.Tab(label, id=name, elem_id=f"tab_{name}"):
                    if demo is not None:
                        demo.render()
                    else:
                        gr.Markdown(f"**This Space failed to start.** `{error}`")
    return app


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    parser = argparse.ArgumentParser(prog="nlv-hf demo", description="serve every Space as tabs of one app")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--checkpoint", action="append", default=[], metavar="SPACE=PATH",
                        help="weights for one Space (repeatable), e.g. croco=./croco-v2-vitl-base")
    parser.add_argument("--only", action="append", default=None, metavar="SPACE", help="serve only these Spaces")
    parser.add_argument("--spaces-dir", default=None, help=f"folder of Spaces (default: the repository's; ${SPACES_ENV})")
    args = parser.parse_args(argv)
    try:
        app = build_app(args.spaces_dir, parse_checkpoints(args.checkpoint), args.only)
    except ValueError as err:
        parser.error(str(err))
    app.launch(server_name=args.host, server_port=args.port, share=False, ssr_mode=False)


__all__ = ["build_app", "discover_spaces", "load_space", "main", "parse_checkpoints"]
