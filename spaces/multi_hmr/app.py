"""Multi-HMR: multi-person whole-body human mesh recovery from one image (Gradio Space).

Upload a picture: every detected person gets a mesh drawn over the image, an interactive 3D scene (GLB) and their
body-model parameters (JSON). The UI is all this file holds; inference, overlay, GLB and JSON come from
``nlv_hf.pipelines.mesh_recovery.MeshRecoveryPipeline``.

    python spaces/multi_hmr/app.py [--checkpoint FOLDER_OR_PT ...] [--port 7860]

Checkpoints offered (a dropdown): each ``--checkpoint`` / ``build_demo(checkpoint=...)`` (a converted folder, an
official ``.pt`` or a Hub id), each entry of ``NLV_MULTI_HMR_CHECKPOINT`` (several separated by ``os.pathsep``),
then the small Multi-HMR-Anny model shipped in ``weights/``. SMPL-X checkpoints appear only when the licensed SMPL-X
files are configured (``NLV_SMPLX_DIR``); the page says how otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

HERE = Path(__file__).resolve().parent
try:
    import nlv_hf  # noqa: F401
except ImportError:  # running from a clone without installing the package
    sys.path.insert(0, str(HERE.parents[1] / "src"))

import gradio as gr  # noqa: E402
import PIL.Image  # noqa: E402
import torch  # noqa: E402

from nlv_hf.body.smplx_model import SMPLX_URL, BodyModelFilesNotFoundError, find_smplx_file  # noqa: E402
from nlv_hf.pipelines.mesh_recovery import MeshRecoveryPipeline  # noqa: E402

TITLE = "Multi-HMR: human mesh recovery"
DEFAULT_WEIGHTS = HERE / "weights"
DEFAULT_EXAMPLES = HERE / "examples"
ENV_CHECKPOINT = "NLV_MULTI_HMR_CHECKPOINT"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
BACKBONES = {384: "ViT-S", 768: "ViT-B", 1024: "ViT-L", 1280: "ViT-H", 1536: "ViT-g"}
FOV_CHOICES = ["auto", "50", "60", "70"]
JSON_SHOWN = ("score", "center_2d", "translation", "params")  # on the page; the file holds joints too

INTRO = """# Multi-HMR: multi-person whole-body human mesh recovery
Multi-HMR ([ECCV 2024](https://arxiv.org/abs/2402.14654)) detects people by the image patch that holds their head
and regresses, in one shot for everybody, a whole-body mesh (SMPL-X, or the Anny body model) placed in 3D in the
camera's frame. Upload a picture (or pick an example), choose the detection threshold and run: you get the meshes over
the image, an interactive 3D scene and the parameters of each person."""

SMPLX_HELP = (f"SMPL-X checkpoints need the licensed SMPL-X model, which cannot be shipped: register at {SMPLX_URL}, "
              "download SMPL-X v1.1 (npz) and start the demo with `NLV_SMPLX_DIR=<folder holding SMPLX_NEUTRAL.npz>`.")

NO_WEIGHTS = (f"**No weights found.** The small demo model is expected in `{DEFAULT_WEIGHTS}` (a `save_pretrained` "
              "folder). Start the demo with `--checkpoint <folder or .pt>` (e.g. an official checkpoint converted with "
              f"`nlv-hf convert multi-hmr multiHMR_672_L.pt out/`) or set `{ENV_CHECKPOINT}`.")


@dataclass
class CheckpointChoice:
    """One entry of the checkpoint dropdown."""

    label: str
    source: str
    origin: str  # "argument" | "environment" | "shipped"
    body_model: str | None  # None: not known before loading (official .pt, unreachable Hub id)
    description: str


def _read_config(source: str) -> dict | None:
    folder = Path(source)
    if (folder / "config.json").is_file():
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if folder.suffix in (".pt", ".pth") or folder.exists():
        return None
    try:  # a Hub id already in the local cache
        from nlv_hf.models.multi_hmr import MultiHMRConfig

        return MultiHMRConfig.from_pretrained(source).to_dict()
    except (OSError, ValueError):
        return None


def describe(config: dict | None) -> str:
    """``"ViT-L, 672 px, SMPL-X"`` from a Multi-HMR config dict."""
    if not config:
        return "Multi-HMR (architecture read at loading)"
    hidden = config.get("hidden_size")
    body = {"smplx": "SMPL-X", "anny": "Anny"}.get(config.get("body_model"), config.get("body_model"))
    return f"{BACKBONES.get(hidden, f'ViT {hidden}-d')}, {config.get('image_size')} px, {body}"


def smplx_configured(config: dict | None = None) -> bool:
    """Whether the SMPL-X model file can be found (the config's ``smplx_path``, else ``$NLV_SMPLX_DIR``...)."""
    try:
        find_smplx_file((config or {}).get("smplx_path"))
    except BodyModelFilesNotFoundError:
        return False
    return True


def _sources(checkpoint) -> list[tuple[str, str]]:
    given = [] if checkpoint is None else [checkpoint] if isinstance(checkpoint, (str, os.PathLike)) else checkpoint
    found = [(str(c), "argument") for c in given if str(c)]
    found += [(c, "environment") for c in os.environ.get(ENV_CHECKPOINT, "").split(os.pathsep) if c.strip()]
    if (DEFAULT_WEIGHTS / "config.json").is_file():
        found.append((str(DEFAULT_WEIGHTS), "shipped"))
    unique, seen = [], set()
    for source, origin in found:
        key = str(Path(source).resolve()) if Path(source).exists() else source
        if key not in seen:
            seen.add(key)
            unique.append((source, origin))
    return unique


def checkpoint_choices(checkpoint=None) -> tuple[list[CheckpointChoice], list[str]]:
    """(offered checkpoints, sources left out). SMPL-X checkpoints are left out while SMPL-X is not configured."""
    choices, hidden = [], []
    for source, origin in _sources(checkpoint):
        config = _read_config(source)
        body = config.get("body_model") if config else None
        if body == "smplx" and not smplx_configured(config):
            hidden.append(source)
            continue
        description = describe(config)
        name = "demo weights" if origin == "shipped" else Path(source).name or source
        choices.append(CheckpointChoice(f"{name} ({description})", source, origin, body, description))
    return choices, hidden


def weights_markdown(choice: CheckpointChoice | None) -> str:
    if choice is None:
        return NO_WEIGHTS
    if choice.origin == "shipped":
        origin = ("the small Multi-HMR-Anny model shipped with this Space (trained by nlv_hf on procedural Anny "
                  "people; see `weights/TRAINING.md`), not an official checkpoint: expect rough meshes")
    else:
        origin = f"user-supplied checkpoint `{choice.source}` (from the {choice.origin})"
    return f"**Weights:** {choice.description} — {origin}."


def example_images(folder: str | os.PathLike | None = None) -> list[list[str]]:
    folder = Path(folder) if folder is not None else DEFAULT_EXAMPLES
    if not folder.is_dir():
        return []
    return [[str(p)] for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]


class PipelineCache:
    """Loads each checkpoint on first use (thread-safe) and keeps it."""

    def __init__(self, device: str):
        self.device = device
        self._loaded: dict[str, MeshRecoveryPipeline] = {}
        self._lock = threading.Lock()

    def get(self, choice: CheckpointChoice) -> MeshRecoveryPipeline:
        with self._lock:
            if choice.source not in self._loaded:
                self._loaded[choice.source] = MeshRecoveryPipeline.from_pretrained(choice.source, device=self.device)
            return self._loaded[choice.source]


def build_demo(checkpoint=None, examples_dir: str | os.PathLike | None = None, device: str | None = None
               ) -> gr.Blocks:
    """Build the Space. ``checkpoint``: one or a list of converted folders, official ``.pt`` files or Hub ids
    (see module docstring). Nothing is loaded until the first run."""
    choices, hidden = checkpoint_choices(checkpoint)
    by_label = {c.label: c for c in choices}
    cache = PipelineCache(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    first = choices[0] if choices else None
    notes = []
    if hidden:
        notes.append(f"{len(hidden)} SMPL-X checkpoint(s) hidden ({', '.join(f'`{h}`' for h in hidden)}): {SMPLX_HELP}")
    elif not any(c.body_model == "smplx" for c in choices):
        notes.append(SMPLX_HELP)

    def select(label):
        return weights_markdown(by_label.get(label))

    def recover(image, label, threshold, nms_kernel_size, fov):
        if not choices:
            raise gr.Error(NO_WEIGHTS.replace("**", ""))
        if image is None:
            raise gr.Error("Upload an image (or pick an example) first.")
        choice = by_label.get(label)
        if choice is None:
            raise gr.Error(f"Unknown checkpoint {label!r}; choose one of: {', '.join(by_label)}")
        try:
            pipe = cache.get(choice)
            result = pipe(image, threshold=float(threshold), nms_kernel_size=int(nms_kernel_size),
                          fov=None if fov in (None, "auto") else float(fov))
        except ValueError as err:  # bad input, missing SMPL-X files, wrong checkpoint
            raise gr.Error(str(err)) from err
        out = Path(tempfile.mkdtemp(prefix="nlv_multi_hmr_"))
        overlay = PIL.Image.fromarray(result.overlay())
        glb = str(result.to_glb(out / "people.glb")) if result.people else None
        document = json.loads(result.to_json(out / "people.json", indent=1))
        shown = dict(document, people=[{k: p[k] for k in JSON_SHOWN if k in p} for p in document["people"]])
        n = len(result.people)
        info = (f"{n} {'person' if n == 1 else 'people'} at threshold {float(threshold):.2f}, field of view "
                f"{result.fov:.1f}°, model {1000 * result.timings['model']:.0f} ms on {cache.device}")
        if n == 0:
            info += " (no 3D scene: lower the threshold)"
        return overlay, glb, shown, str(out / "people.json"), info

    default_threshold = 0.3
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(INTRO)
        weights = gr.Markdown(weights_markdown(first), elem_id="mhr_weights")
        if notes:
            gr.Markdown("\n\n".join(notes), elem_id="mhr_notes")
        with gr.Row():
            with gr.Column():
                image = gr.Image(type="pil", label="Image", elem_id="mhr_image")
                checkpoint_box = gr.Dropdown(choices=list(by_label), value=first.label if first else None,
                                             label="Checkpoint", interactive=bool(choices), elem_id="mhr_checkpoint")
                threshold = gr.Slider(0.0, 1.0, value=default_threshold, step=0.05, label="Detection threshold",
                                      elem_id="mhr_threshold")
                with gr.Row():
                    nms = gr.Radio([1, 3, 5], value=3, label="NMS kernel (patches)", elem_id="mhr_nms")
                    fov = gr.Radio(FOV_CHOICES, value="auto", elem_id="mhr_fov",
                                   label="Field of view (° over the padded square; auto: 60 for SMPL-X, regressed "
                                         "by Anny models)")
                run = gr.Button("Recover meshes", variant="primary", elem_id="mhr_run")
            with gr.Column():
                overlay = gr.Image(type="pil", format="png", interactive=False, label="Meshes over the image",
                                   elem_id="mhr_overlay")
                scene = gr.Model3D(label="3D scene (drag to rotate)", clear_color=(0.95, 0.95, 0.95, 1.0),
                                   elem_id="mhr_model3d")
        info = gr.Textbox(label="Result", interactive=False, elem_id="mhr_info")
        with gr.Row():
            params = gr.JSON(label="Parameters per person (score, 2D centre, translation in metres, body-model "
                                   "parameters)", elem_id="mhr_params")
            json_file = gr.File(label="people.json (with joints)", elem_id="mhr_json_file")
        examples = example_images(examples_dir)
        if examples:
            gr.Examples(examples=examples, inputs=[image], label="Examples", cache_examples=False,
                        elem_id="mhr_examples")
        checkpoint_box.change(select, inputs=checkpoint_box, outputs=weights, api_name="select")
        run.click(recover, inputs=[image, checkpoint_box, threshold, nms, fov],
                  outputs=[overlay, scene, params, json_file, info], api_name="recover")
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--checkpoint", action="append", default=None,
                        help="converted folder, official .pt or Hub id (repeatable)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args(argv)
    build_demo(args.checkpoint).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
