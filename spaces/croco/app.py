"""CroCo: cross-view completion (Gradio Space).

Hide part of a first view, and watch CroCo rebuild it from the visible patches and a second view of the same scene.
The UI is all this file holds; masking, reconstruction and the pictures come from
``nlv_hf.models.croco.completion_croco``.

    python spaces/croco/app.py [--checkpoint FOLDER_OR_PTH] [--port 7860]

Weights, in this order: ``--checkpoint`` / ``build_demo(checkpoint=...)`` (a converted folder, an official ``.pth``
or a Hub id), the ``NLV_CROCO_CHECKPOINT`` environment variable, then the small model shipped in ``weights/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

HERE = Path(__file__).resolve().parent
try:
    import nlv_hf  # noqa: F401
except ImportError:  # running from a clone without installing the package
    sys.path.insert(0, str(HERE.parents[1] / "src"))

import gradio as gr  # noqa: E402
import torch  # noqa: E402

from nlv_hf.models.croco.completion_croco import complete_cross_view, load_croco_for_completion  # noqa: E402

TITLE = "CroCo: cross-view completion"
DEFAULT_WEIGHTS = HERE / "weights"
DEFAULT_EXAMPLES = HERE / "examples"
ENV_CHECKPOINT = "NLV_CROCO_CHECKPOINT"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DISPLAY_HEIGHT = 224  # small models' pictures are enlarged (nearest neighbour) to at least this height

INTRO = """# CroCo: cross-view completion
CroCo ([NeurIPS 2022](https://arxiv.org/abs/2210.10716), v2 [ICCV 2023](https://arxiv.org/abs/2211.10408)) is
pre-trained by hiding most patches of a first view and reconstructing them from the visible ones **and a second view
of the same scene**. Upload two views (or pick an example), choose how much to hide, and compare the masked input,
the reconstruction and the original. Weights: CC BY-NC-SA 4.0 (non-commercial)."""

NO_WEIGHTS = (f"**No weights found.** The small demo model is expected in `{DEFAULT_WEIGHTS}` (a `save_pretrained` "
              "folder). Start the demo with `--checkpoint <folder or .pth>` (e.g. an official checkpoint converted "
              f"with `nlv-hf convert croco CroCo_V2_ViTLarge_BaseDecoder.pth out/`) or set `{ENV_CHECKPOINT}`.")


def resolve_checkpoint(checkpoint: str | os.PathLike | None = None) -> str | None:
    """The weights to run: the argument, else ``$NLV_CROCO_CHECKPOINT``, else ``weights/`` when present."""
    if checkpoint:
        return str(checkpoint)
    if os.environ.get(ENV_CHECKPOINT):
        return os.environ[ENV_CHECKPOINT]
    if (DEFAULT_WEIGHTS / "config.json").is_file():
        return str(DEFAULT_WEIGHTS)
    return None


def example_pairs(folder: str | os.PathLike | None = None) -> list[list[str]]:
    """Every ``<name>_1.<ext>`` in ``folder`` that has a ``<name>_2.<ext>`` beside it, sorted by name."""
    folder = Path(folder) if folder is not None else DEFAULT_EXAMPLES
    if not folder.is_dir():
        return []
    pairs = []
    for first in sorted(folder.iterdir()):
        stem = first.stem
        if first.suffix.lower() in IMAGE_SUFFIXES and stem.endswith("_1"):
            second = first.with_name(stem[:-2] + "_2" + first.suffix)
            if second.is_file():
                pairs.append([str(first), str(second)])
    return pairs


def held_out_note(source) -> str:
    """The measured held-out reconstruction of a weights folder (``reconstruction_eval.json``, written by
    ``nlv-hf train croco-pretrain``), as a sentence for the page; empty when the folder has none."""
    path = Path(str(source)) / "reconstruction_eval.json"
    if not path.is_file():
        return ""
    result = json.loads(path.read_text())
    return (f" Measured on {result['num_pairs']} held-out procedural pairs: masked loss {result['loss']:.3f} vs "
            f"{result['mean_patch_loss']:.3f} for the best constant (mean) patch.")


def build_demo(checkpoint: str | os.PathLike | None = None, examples_dir: str | os.PathLike | None = None
               ) -> gr.Blocks:
    """Build the Space. ``checkpoint``: converted folder, official ``.pth`` or Hub id (see module docstring)."""
    source = resolve_checkpoint(checkpoint)
    loaded = None
    if source is not None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        loaded = load_croco_for_completion(source, device=device)
        shipped = Path(source).resolve() == DEFAULT_WEIGHTS.resolve()
        origin = ("the small model shipped with this Space (trained by nlv_hf on procedural pairs; see "
                  "`weights/TRAINING.md`), not an official checkpoint" if shipped else "user-supplied checkpoint")
        weights_text = f"**Weights:** {loaded.description} — {origin}." + held_out_note(source)
        default_ratio = float(loaded.model.config.mask_ratio)
    else:
        weights_text = NO_WEIGHTS
        default_ratio = 0.9

    def reconstruct(image, image_2, mask_ratio, seed):
        if loaded is None:
            raise gr.Error(NO_WEIGHTS.replace("**", ""))
        if image is None or image_2 is None:
            raise gr.Error("Give two images: the view to complete and a second view of the same scene.")
        try:
            result = complete_cross_view(loaded.model, loaded.processor, image, image_2,
                                         mask_ratio=float(mask_ratio), seed=int(seed or 0))
        except ValueError as err:
            raise gr.Error(str(err)) from err
        hidden = int(result.bool_masked_pos.sum())
        info = (f"{hidden} of {result.bool_masked_pos.numel()} patches hidden ({100 * result.mask_fraction:.0f} %), "
                f"seed {int(seed or 0)}; masked normalised-pixel MSE {result.loss:.4f}")
        return result.side_by_side(min_height=DISPLAY_HEIGHT), info

    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(INTRO)
        gr.Markdown(weights_text, elem_id="croco_weights")
        with gr.Row():
            image = gr.Image(type="pil", label="View to complete", elem_id="croco_image_1")
            image_2 = gr.Image(type="pil", label="Second view of the same scene", elem_id="croco_image_2")
        with gr.Row():
            mask_ratio = gr.Slider(0.0, 0.95, value=default_ratio, step=0.05, label="Mask ratio",
                                   elem_id="croco_mask_ratio")
            seed = gr.Number(value=0, precision=0, minimum=0, label="Seed (mask draw)", elem_id="croco_seed")
            run = gr.Button("Reconstruct", variant="primary", elem_id="croco_run")
        output = gr.Image(type="pil", format="png", interactive=False, elem_id="croco_output",
                          label="masked view | reconstruction | original | second view")
        info = gr.Textbox(label="Mask", interactive=False, elem_id="croco_info")
        pairs = example_pairs(examples_dir)
        if pairs:
            gr.Examples(examples=pairs, inputs=[image, image_2], label="Example pairs", cache_examples=False,
                        elem_id="croco_examples")
        run.click(reconstruct, inputs=[image, image_2, mask_ratio, seed], outputs=[output, info],
                  api_name="reconstruct")
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--checkpoint", default=None, help="converted folder, official .pth or Hub id")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    args = parser.parse_args(argv)
    build_demo(args.checkpoint).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
