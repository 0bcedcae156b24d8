"""CroCo-Stereo / CroCo-Flow: disparity or optical flow for two images (Gradio Space).

Give two images (a rectified left/right pair, or two video frames), pick the task, and get the colour-coded
disparity (or optical flow) and the model's confidence, at the full input resolution. The UI is all this file holds;
tiled inference comes from ``nlv_hf.pipelines.StereoFlowPipeline`` and the pictures from
``nlv_hf.data.visualization``.

    python spaces/croco_stereo_flow/app.py [--checkpoint FOLDER] [--stereo-checkpoint S] [--flow-checkpoint F]

Weights, per task, in this order: ``--stereo-checkpoint`` / ``--flow-checkpoint`` (``build_demo(stereo_checkpoint=,
flow_checkpoint=)``); ``--checkpoint`` (one converted folder, official ``.pth`` or Hub id, whose task is read from
the model, or a folder holding ``stereo/`` and ``flow/`` sub-folders); the environment variables
``NLV_CROCO_STEREO_CHECKPOINT`` / ``NLV_CROCO_FLOW_CHECKPOINT``; then the small models shipped in
``weights/stereo`` and ``weights/flow``. Without weights for a task the page says so and how to add them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

HERE = Path(__file__).resolve().parent
try:
    import nlv_hf  # noqa: F401
except ImportError:  # running from a clone without installing the package
    sys.path.insert(0, str(HERE.parents[1] / "src"))

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import PIL.Image  # noqa: E402
import torch  # noqa: E402

from nlv_hf.data.visualization import disparity_to_color, flow_to_color  # noqa: E402
from nlv_hf.pipelines.stereo_flow import StereoFlowPipeline, window_offsets  # noqa: E402

TITLE = "CroCo-Stereo / Flow"
TASKS = ("stereo", "flow")
DEFAULT_WEIGHTS = HERE / "weights"
ENV_CHECKPOINTS = {"stereo": "NLV_CROCO_STEREO_CHECKPOINT", "flow": "NLV_CROCO_FLOW_CHECKPOINT"}
EXAMPLES_ENV = "NLV_CROCO_STEREO_FLOW_EXAMPLES"
TILE_BATCH_SIZE = 8

INTRO = """# CroCo-Stereo / CroCo-Flow
CroCo v2 ([ICCV 2023](https://arxiv.org/abs/2211.10408)) fine-tuned with a DPT head for **stereo matching** (disparity
of the left image) and **optical flow** (motion from the first frame to the second), each with a per-pixel confidence.
Images of any size are processed at full resolution by overlapping tiles of the training crop, blended by confidence
(upstream's evaluation protocol). Give two images (or pick an example), choose the task, and compare the colour-coded
result with the confidence map. Weights: CC BY-NC-SA 4.0 (non-commercial)."""

LEGEND = {"stereo": "Disparity (inferno: bright = near, large disparity)",
          "flow": "Optical flow (Middlebury wheel: hue = direction, saturation = magnitude, white = still)"}


def no_weights_text(task: str) -> str:
    return (f"no {task} weights: expected a `save_pretrained` folder in `{DEFAULT_WEIGHTS / task}`; start the Space "
            f"with `--{task}-checkpoint <folder | crocostereo*.pth | crocoflow*.pth | Hub id>` (official checkpoints "
            f"are converted on the fly, e.g. `nlv-hf convert croco-{task} "
            f"{'crocostereo' if task == 'stereo' else 'crocoflow'}.pth out/`) or set `{ENV_CHECKPOINTS[task]}`")


# ----------------------------------------------------------------------------------------------------------- weights
MODEL_TYPES = {"croco_stereo": "stereo", "croco_flow": "flow"}


def _task_of_folder(folder: Path) -> str | None:
    import json

    config = folder / "config.json"
    if not config.is_file():
        return None
    return MODEL_TYPES.get(json.loads(config.read_text()).get("model_type", ""))


def task_of(source: str | os.PathLike) -> str:
    """The task ('stereo' / 'flow') of a converted folder, an official checkpoint file or a Hub id."""
    text = str(source)
    if Path(text).is_dir():
        task = _task_of_folder(Path(text))
    elif text.endswith((".pth", ".pt")) or text.startswith(("http://", "https://")):
        name = text.rsplit("/", 1)[-1].lower()
        task = "stereo" if name.startswith("crocostereo") else "flow" if name.startswith("crocoflow") else None
        if task is None and Path(text).is_file():
            from nlv_hf.conversion import safe_load_checkpoint

            args = safe_load_checkpoint(text).get("args")
            task = args.get("task") if isinstance(args, dict) else getattr(args, "task", None)
    else:
        from transformers import AutoConfig  # nlv_hf (imported above) registered the CroCo configs

        task = MODEL_TYPES.get(getattr(AutoConfig.from_pretrained(text), "model_type", ""))
    if task not in TASKS:
        raise ValueError(f"{text} is not a CroCo-Stereo / CroCo-Flow model (expected a converted folder, a "
                         "crocostereo*.pth / crocoflow*.pth checkpoint or a Hub id of one)")
    return task


def resolve_checkpoints(checkpoint: str | os.PathLike | None = None, stereo_checkpoint=None, flow_checkpoint=None
                        ) -> dict[str, str | None]:
    """``{"stereo": source or None, "flow": source or None}`` in the module docstring's order."""
    sources: dict[str, str | None] = {"stereo": stereo_checkpoint and str(stereo_checkpoint),
                                      "flow": flow_checkpoint and str(flow_checkpoint)}
    if checkpoint:
        folder = Path(checkpoint)
        subfolders = {task: str(folder / task) for task in TASKS if _task_of_folder(folder / task) == task}
        for task, source in (subfolders or {task_of(checkpoint): str(checkpoint)}).items():
            sources[task] = sources[task] or source
    for task in TASKS:
        if sources[task] is None and os.environ.get(ENV_CHECKPOINTS[task]):
            sources[task] = os.environ[ENV_CHECKPOINTS[task]]
        elif sources[task] is None and _task_of_folder(DEFAULT_WEIGHTS / task) == task:
            sources[task] = str(DEFAULT_WEIGHTS / task)
    return sources


@dataclass
class LoadedModel:
    pipeline: StereoFlowPipeline
    source: str
    description: str


def describe(model, source: str) -> str:
    config = model.config
    params = sum(p.numel() for p in model.parameters())
    from nlv_hf.models.croco.cards_croco_stereo_flow import RELEASES

    name = str(source).rsplit("/", 1)[-1]
    if Path(source).resolve().parent == DEFAULT_WEIGHTS.resolve():
        origin = ("the small model shipped with this Space (trained by nlv_hf on procedural pairs; see the notes in "
                  "`weights/`), not an official checkpoint")
    elif name in RELEASES:
        origin = f"official NAVER LABS Europe checkpoint ({RELEASES[name].purpose})"
    else:
        origin = "user-supplied checkpoint"
    return (f"{'CroCo-Stereo' if config.task == 'stereo' else 'CroCo-Flow'} ({type(model).__name__}, "
            f"encoder {config.encoder_hidden_size}×{config.encoder_num_hidden_layers}, decoder "
            f"{config.decoder_hidden_size}×{config.decoder_num_hidden_layers}, {params:,} parameters, tiles of "
            f"{config.crop_size[0]}×{config.crop_size[1]}) from `{source}` — {origin}")


def load_models(sources: dict[str, str | None], device: str | None = None) -> dict[str, LoadedModel]:
    """Load every resolved source onto ``device`` (default: CUDA when available)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    loaded = {}
    for task, source in sources.items():
        if source is None:
            continue
        pipeline = StereoFlowPipeline.from_pretrained(source, tile_batch_size=TILE_BATCH_SIZE)
        if pipeline.task != task:
            raise ValueError(f"the {task} checkpoint {source} holds a {pipeline.task} model")
        pipeline.model.to(device)
        loaded[task] = LoadedModel(pipeline, source, describe(pipeline.model, source))
    return loaded


# ---------------------------------------------------------------------------------------------------------- examples
def write_examples(folder: str | os.PathLike | None = None) -> list[list[str]]:
    """Write the example pairs (once) and return Gradio example rows ``[image_1, image_2, task]``: the Middlebury
    2014 *Motorcycle* pair (``skimage.data.stereo_motorcycle()``, offline) and a procedural flow pair (textured
    layers moving by their own similarity transforms, ``nlv_hf.data.stereo_flow.make_flow_pair``)."""
    folder = Path(folder or os.environ.get(EXAMPLES_ENV) or Path(tempfile.gettempdir()) / "nlv_hf_croco_stereo_flow")
    folder.mkdir(parents=True, exist_ok=True)
    left, right = folder / "motorcycle_left.png", folder / "motorcycle_right.png"
    if not (left.is_file() and right.is_file()):
        from skimage.data import stereo_motorcycle

        image_left, image_right, _ = stereo_motorcycle()
        PIL.Image.fromarray(image_left).save(left)
        PIL.Image.fromarray(image_right).save(right)
    frame_1, frame_2 = folder / "procedural_flow_1.png", folder / "procedural_flow_2.png"
    if not (frame_1.is_file() and frame_2.is_file()):
        from nlv_hf.data.stereo_flow import make_flow_pair

        pair = make_flow_pair(352, 480, seed=3, max_motion=16.0)
        for path, key in ((frame_1, "image_1"), (frame_2, "image_2")):
            PIL.Image.fromarray((pair[key] * 255).round().clip(0, 255).astype(np.uint8)).save(path)
    return [[str(left), str(right), "stereo"], [str(frame_1), str(frame_2), "flow"]]


# ---------------------------------------------------------------------------------------------------------- inference
def tile_count(size: tuple[int, int], crop: tuple[int, int], overlap: float) -> int:
    height, width = size
    if height < crop[0] or width < crop[1]:  # upscaled to fit the crop first (as the pipeline does)
        factor = max(crop[1] / width, crop[0] / height)
        height, width = max(crop[0], round(height * factor)), max(crop[1], round(width * factor))
    return len(window_offsets(height, crop[0], overlap)) * len(window_offsets(width, crop[1], overlap))


def estimate(loaded: dict[str, LoadedModel], image_1, image_2, task: str, overlap: float | None = None):
    """Run the chosen task; returns (colour-coded result, confidence picture, info text). ValueError on bad input."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if task not in loaded:
        raise ValueError(no_weights_text(task).replace("`", ""))
    if image_1 is None or image_2 is None:
        raise ValueError("Give two images: " + ("the left and right views of a rectified stereo pair."
                                                 if task == "stereo" else "two consecutive video frames."))
    image_1, image_2 = (np.asarray(PIL.Image.fromarray(np.asarray(im)).convert("RGB")) for im in (image_1, image_2))
    if image_1.shape != image_2.shape:
        raise ValueError(f"the two images must have the same size, got {image_1.shape[1]}×{image_1.shape[0]} and "
                         f"{image_2.shape[1]}×{image_2.shape[0]} px")
    pipeline = loaded[task].pipeline
    config = pipeline.model.config
    overlap = float(config.tile_overlap if overlap is None else overlap)
    started = time.perf_counter()
    out = pipeline(image_1, image_2, overlap=overlap)
    seconds = time.perf_counter() - started
    height, width = image_1.shape[:2]
    tiles = tile_count((height, width), tuple(config.crop_size), overlap)
    if task == "stereo":
        values = out["disparity"].numpy()
        picture = disparity_to_color(values)
        summary = f"disparity {values.min():.1f} to {values.max():.1f} px"
    else:
        flow = out["flow"].numpy().transpose(1, 2, 0)
        picture = flow_to_color(flow)
        summary = f"flow magnitude up to {np.linalg.norm(flow, axis=-1).max():.1f} px"
    confidence = None
    if out["confidence"] is not None:
        # the confidence channel is a log-scale uncertainty (lower = more reliable): shown negated, bright = reliable
        confidence = disparity_to_color(-out["confidence"].numpy(), cmap="viridis")
    device = next(pipeline.model.parameters()).device.type
    info = (f"{task}: {width}×{height} px, {tiles} tiles of {config.crop_size[0]}×{config.crop_size[1]} "
            f"(overlap {overlap:.2f}), {seconds:.2f} s on {device}; {summary}")
    return picture, confidence, info


# ---------------------------------------------------------------------------------------------------------------- UI
def build_demo(checkpoint: str | os.PathLike | None = None, stereo_checkpoint=None, flow_checkpoint=None,
               examples_dir: str | os.PathLike | None = None) -> gr.Blocks:
    """Build the Space (weights: see the module docstring)."""
    loaded = load_models(resolve_checkpoints(checkpoint, stereo_checkpoint, flow_checkpoint))
    lines = [f"- **{task}:** {loaded[task].description if task in loaded else no_weights_text(task)}."
             for task in TASKS]
    weights_text = "**Weights:**\n" + "\n".join(lines)
    available = [task for task in TASKS if task in loaded] or list(TASKS)
    default_overlap = loaded[available[0]].pipeline.model.config.tile_overlap if available[0] in loaded else 0.7

    def run(image_1, image_2, task, overlap):
        try:
            return estimate(loaded, image_1, image_2, task, overlap)
        except ValueError as err:
            raise gr.Error(str(err)) from err

    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(INTRO)
        gr.Markdown(weights_text, elem_id="sf_weights")
        with gr.Row():
            image_1 = gr.Image(type="numpy", label="Left view / first frame", elem_id="sf_image_1")
            image_2 = gr.Image(type="numpy", label="Right view / second frame", elem_id="sf_image_2")
        with gr.Row():
            task = gr.Radio(list(TASKS), value=available[0], label="Task", elem_id="sf_task")
            overlap = gr.Slider(0.0, 0.9, value=default_overlap, step=0.05, label="Tile overlap",
                                elem_id="sf_overlap")
            button = gr.Button("Estimate", variant="primary", elem_id="sf_run")
        with gr.Row():
            output = gr.Image(type="numpy", format="png", interactive=False, elem_id="sf_output",
                              label="Result (disparity: inferno, bright = near; flow: Middlebury colour wheel)")
            confidence = gr.Image(type="numpy", format="png", interactive=False, elem_id="sf_confidence",
                                  label="Confidence (bright = reliable)")
        info = gr.Textbox(label="Run", interactive=False, elem_id="sf_info")
        gr.Examples(examples=write_examples(examples_dir), inputs=[image_1, image_2, task], label="Examples",
                    cache_examples=False, elem_id="sf_examples")
        button.click(run, inputs=[image_1, image_2, task, overlap], outputs=[output, confidence, info],
                     api_name="estimate")
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--checkpoint", default=None,
                        help="one converted folder / official .pth / Hub id, or a folder with stereo/ and flow/")
    parser.add_argument("--stereo-checkpoint", default=None, help="CroCo-Stereo weights (folder, .pth or Hub id)")
    parser.add_argument("--flow-checkpoint", default=None, help="CroCo-Flow weights (folder, .pth or Hub id)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args(argv)
    build_demo(args.checkpoint, args.stereo_checkpoint, args.flow_checkpoint).launch(
        server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
