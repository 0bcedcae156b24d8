"""Model cards of CroCo-Stereo / CroCo-Flow: the one text source for the 12 released checkpoints' cards in
``model_cards/`` and for the card the converter writes into a converted folder.

    python -m nlv_hf.models.croco.cards_croco_stereo_flow model_cards/     # (re)write the 12 cards

Facts about each release come from the upstream ``stereoflow/README.MD`` training commands and the checkpoints' stored
arguments (crop, criterion, tiling mode); parameter counts and tensor counts from the meta-device builds recorded in
the golden fixtures (``full_size_keys.json``). *Reported* numbers are quoted only where a source gives them; the
*measured* parity is what ``tests/parity/test_croco_stereo_flow_parity.py`` checks (values recorded below).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

BACKBONES = {
    # name: (encoder width, depth, heads, decoder width, depth, heads, DPT hooks, pretraining checkpoint)
    "vitl_base": (1024, 24, 16, 768, 12, 12, [23, 27, 31, 35], "CroCo_V2_ViTLarge_BaseDecoder.pth"),
    "vitb_small": (768, 12, 12, 512, 8, 16, [10, 13, 16, 19], "CroCo_V2_ViTBase_SmallDecoder.pth"),
    "vitb_base": (768, 12, 12, 768, 12, 12, [11, 15, 19, 23], "CroCo_V2_ViTBase_BaseDecoder.pth"),
}
BACKBONE_TITLES = {"vitl_base": "ViT-Large encoder, Base decoder", "vitb_small": "ViT-Base encoder, Small decoder",
                   "vitb_base": "ViT-Base encoder, Base decoder"}
PARAMETERS = {("stereo", "vitl_base"): 437_417_890, ("stereo", "vitb_small"): 139_403_682,
              ("stereo", "vitb_base"): 219_744_418, ("flow", "vitl_base"): 437_417_923,
              ("flow", "vitb_small"): 139_403_715, ("flow", "vitb_base"): 219_744_451}
TENSORS = {"vitl_base": 666, "vitb_small": 426, "vitb_base": 522}  # in the upstream state dict, 18 DPT aliases incl.

STEREO_DATA = ("CREStereo + SceneFlow (all passes) + 30×ETH3D two-view low-res + 50×Middlebury (2005, 2006, 2014, "
               "2021, MiddEval3 full) + Booster (balanced)")
STEREO_VAL = "SceneFlow, ETH3D, Middlebury and Booster validation subsets"
FLOW_DATA = ("40×MPI-Sintel (clean + final, `subtrain`) + 4×FlyingThings (all passes) + 4×FlyingChairs + TartanAir; "
             "240 epochs of 30,000 pairs")
STEREO_DATASETS = ["crestereo", "sceneflow", "eth3d", "middlebury", "booster"]
FLOW_DATASETS = ["mpi-sintel", "flyingthings3d", "flyingchairs", "tartanair"]


@dataclass(frozen=True)
class Release:
    checkpoint: str
    task: str  # "stereo" | "flow"
    backbone: str
    crop: tuple[int, int]
    loss: str  # upstream criterion string
    tile_conf_mode: str
    training: str  # reported training recipe
    datasets: list[str]
    purpose: str
    overlap_hint: float = 0.9  # tile overlap of upstream's submission command
    reported: str = ""  # reported results, when a source gives any
    extra_tags: list[str] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return self.checkpoint.removesuffix(".pth").replace("_", "-")


_STEREO_MAIN = (f"fine-tuned from `CroCo_V2_ViTLarge_BaseDecoder.pth` on {STEREO_DATA}, random 352×704 crops, "
                "AdamW lr 3e-5 (batch 6), 32 epochs, `LaplacianLossBounded2` confidence loss")
_FLOW_MAIN = (f"fine-tuned from `CroCo_V2_ViTLarge_BaseDecoder.pth` on {FLOW_DATA}, random 320×384 crops, AdamW "
              "lr 2e-5 (batch 8), `LaplacianLossBounded` confidence loss; checkpoint with the best MPI-Sintel "
              "`subval` EPE")
_NO_NUMBERS = ("The upstream repository (README and code) gives no benchmark number for this checkpoint; the paper "
               "reports results of the method on the public leaderboards (see its tables). nlv_hf has not evaluated "
               "the released weights, so this card quotes no number it could not check.")

RELEASES = {r.checkpoint: r for r in [
    Release("crocostereo.pth", "stereo", "vitl_base", (352, 704), "LaplacianLossBounded2()", "conf_expsigmoid_15_3",
            _STEREO_MAIN + " (last checkpoint).", STEREO_DATASETS,
            "the main CroCo-Stereo model, used for the Middlebury v3 submission",
            reported=("*Reported* by a user in naver/croco issue #9 (not by the authors): zero-shot D1 error of "
                      "14.00 % on KITTI 2012 and 19.38 % on KITTI 2015 (this checkpoint, not fine-tuned on KITTI). "
                      "The upstream README gives no benchmark number; the paper reports the method's leaderboard "
                      "results (see its tables). nlv_hf has not evaluated the released weights.")),
    Release("crocostereo_subtrain.pth", "stereo", "vitl_base", (352, 704), "LaplacianLossBounded2()",
            "conf_expsigmoid_15_3",
            _STEREO_MAIN.replace("on CREStereo", "on the `subtrain` splits of the same mixture (CREStereo")
            .replace("(balanced)", "(balanced))") + f"; checkpoint with the best validation error on the {STEREO_VAL}.",
            STEREO_DATASETS, "the main recipe trained on the `subtrain` splits only, for evaluation on the validation "
            "splits (`subval`)"),
    Release("crocostereo_eth3d.pth", "stereo", "vitl_base", (352, 704), "LaplacianLoss()", "conf_expbeta3",
            _STEREO_MAIN.replace("`LaplacianLossBounded2` confidence loss", "unbounded `LaplacianLoss` confidence "
                                 "loss, tiles blended with `conf_expbeta3`") + ".",
            STEREO_DATASETS, "the model of the ETH3D submission (unbounded Laplacian loss)"),
    Release("crocostereo_finetune_kitti.pth", "stereo", "vitl_base", (352, 1216), "LaplacianLossBounded2()",
            "conf_expsigmoid_15_3",
            "`crocostereo.pth` fine-tuned on KITTI 2012 + KITTI 2015 (train), 352×1216 crops, AdamW lr 3e-5, batch 1 "
            "with 6 accumulation steps, 20 epochs, `LaplacianLossBounded2`.",
            STEREO_DATASETS + ["kitti-2012", "kitti-2015"], "the main model fine-tuned for the KITTI 2015 submission",
            extra_tags=["kitti"]),
    Release("crocostereo_finetune_spring.pth", "stereo", "vitl_base", (352, 704), "LaplacianLossBounded2()",
            "conf_expsigmoid_15_3",
            "`crocostereo.pth` fine-tuned on Spring (train), 352×704 crops, AdamW lr 3e-5 (batch 6), 8 epochs, "
            "`LaplacianLossBounded2`.",
            STEREO_DATASETS + ["spring"], "the main model fine-tuned for the Spring submission", extra_tags=["spring"]),
    Release("crocostereo_subtrain_vitb_smalldecoder.pth", "stereo", "vitb_small", (352, 704),
            "LaplacianLossBounded2()", "conf_expsigmoid_15_3",
            "the `crocostereo_subtrain.pth` recipe started from `CroCo_V2_ViTBase_SmallDecoder.pth` instead of the "
            "ViT-Large model (upstream: \"simply replace the `--pretrained` argument\").",
            STEREO_DATASETS, "a smaller CroCo-Stereo (ViT-Base encoder, Small decoder), `subtrain` splits"),
    Release("crocostereo_subtrain_vitb_basedecoder.pth", "stereo", "vitb_base", (352, 704),
            "LaplacianLossBounded2()", "conf_expsigmoid_15_3",
            "the `crocostereo_subtrain.pth` recipe started from `CroCo_V2_ViTBase_BaseDecoder.pth` instead of the "
            "ViT-Large model (upstream: \"simply replace the `--pretrained` argument\").",
            STEREO_DATASETS, "a smaller CroCo-Stereo (ViT-Base encoder, Base decoder), `subtrain` splits"),
    Release("crocoflow.pth", "flow", "vitl_base", (320, 384), "LaplacianLossBounded()", "conf_expsigmoid_10_5",
            _FLOW_MAIN + ".", FLOW_DATASETS, "the main CroCo-Flow model, used for the MPI-Sintel submission"),
    Release("crocoflow_finetune_kitti.pth", "flow", "vitl_base", (352, 1216), "LaplacianLossBounded()",
            "conf_expsigmoid_10_5",
            "`crocoflow.pth` fine-tuned on KITTI 2015 + KITTI 2012 (train), 352×1216 crops, AdamW lr 2e-5, batch 1 "
            "with 8 accumulation steps, 150 epochs, `LaplacianLossBounded` (last checkpoint).",
            FLOW_DATASETS + ["kitti-2012", "kitti-2015"], "the main model fine-tuned for the KITTI 2015 submission",
            overlap_hint=0.99, extra_tags=["kitti"]),
    Release("crocoflow_finetune_spring.pth", "flow", "vitl_base", (320, 384), "LaplacianLossBounded()",
            "conf_expsigmoid_10_5",
            "`crocoflow.pth` fine-tuned on Spring (train), 320×384 crops, AdamW lr 2e-5 (batch 8), 12 epochs, "
            "`LaplacianLossBounded` (last checkpoint).",
            FLOW_DATASETS + ["spring"], "the main model fine-tuned for the Spring submission", extra_tags=["spring"]),
    Release("crocoflow_vitb_smalldecoder.pth", "flow", "vitb_small", (320, 384), "LaplacianLossBounded()",
            "conf_expsigmoid_10_5",
            "the `crocoflow.pth` recipe started from `CroCo_V2_ViTBase_SmallDecoder.pth` instead of the ViT-Large "
            "model (upstream: \"simply replace the `--pretrained` argument\").",
            FLOW_DATASETS, "a smaller CroCo-Flow (ViT-Base encoder, Small decoder)"),
    Release("crocoflow_vitb_basedecoder.pth", "flow", "vitb_base", (320, 384), "LaplacianLossBounded()",
            "conf_expsigmoid_10_5",
            "the `crocoflow.pth` recipe started from `CroCo_V2_ViTBase_BaseDecoder.pth` instead of the ViT-Large "
            "model (upstream: \"simply replace the `--pretrained` argument\").",
            FLOW_DATASETS, "a smaller CroCo-Flow (ViT-Base encoder, Base decoder)"),
]}

# Measured by nlv_hf (tests/parity/test_croco_stereo_flow_parity.py on the golden fixtures; every compared tensor)
MEASURED = {
    "date": "2026-11-25", "torch": "2.13.0", "transformers": "5.24.0", "upstream_commit": "d7de070",
    "stereo": {"fixture": "croco_stereo", "tensors": 28, "max_abs_diff": "1.4e-06"},
    "flow": {"fixture": "croco_flow", "tensors": 27, "max_abs_diff": "1.2e-06"},
}
BENCHMARK_JSON = "benchmarks/results/croco_stereo_flow-cpu-2026-11-25.json"

CITATION = r"""```bibtex
@inproceedings{croco_v2,
  title     = {{CroCo v2: Improved Cross-view Completion Pre-training for Stereo Matching and Optical Flow}},
  author    = {Weinzaepfel, Philippe and Lucas, Thomas and Leroy, Vincent and Cabon, Yohann and Arora, Vaibhav
               and Br\'egier, Romain and Csurka, Gabriela and Antsfeld, Leonid and Chidlovskii, Boris and Revaud, J\'er\^ome},
  booktitle = {ICCV},
  year      = {2023}
}
```"""

LICENCE = """## Licence

The weights are released by NAVER LABS Europe under **CC BY-NC-SA 4.0** (non-commercial use only, share alike);
this card and the nlv_hf code are Apache-2.0."""


def _metadata(task: str, datasets: list[str] | None, extra_tags: list[str]) -> str:
    from huggingface_hub import ModelCardData

    stereo = task == "stereo"
    data = ModelCardData(
        license="cc-by-nc-sa-4.0",
        library_name="transformers",
        pipeline_tag="depth-estimation" if stereo else "image-to-image",
        tags=["nlv_hf", "croco", "croco-v2", "croco-stereo" if stereo else "croco-flow",
              "stereo-matching" if stereo else "optical-flow", "dpt", "vision", "naver-labs-europe", *extra_tags],
        datasets=datasets,
    )
    return f"---\n{data.to_yaml()}\n---\n"


def _usage(task: str, repo: str) -> str:
    stereo = task == "stereo"
    first, second = ("left.png", "right.png") if stereo else ("frame1.png", "frame2.png")
    key = "disparity" if stereo else "flow"
    to_color = "disparity_to_color" if stereo else "flow_to_color"
    array = 'out["disparity"].numpy()' if stereo else 'out["flow"].numpy().transpose(1, 2, 0)'
    shape = "(H, W)" if stereo else "(2, H, W): u, v"
    return f"""```python
from PIL import Image

from nlv_hf.data.visualization import {to_color}
from nlv_hf.pipelines import StereoFlowPipeline

repo = "{repo}"  # or a folder written by `nlv-hf convert croco-{task} <checkpoint>.pth <folder>`
pipe = StereoFlowPipeline.from_pretrained(repo)  # add `pipe.model.to("cuda")` on a GPU
out = pipe(Image.open("{first}"), Image.open("{second}"))  # any size: tiled at the training crop
{key} = out["{key}"]  # {shape}, in pixels, at the input resolution
confidence = out["confidence"]  # (H, W), log-scale uncertainty: lower is more reliable
Image.fromarray({to_color}({array})).save("{key}.png")
print({key}.shape, float(confidence.mean()))
```"""


def _table(release: Release) -> str:
    enc, enc_depth, enc_heads, dec, dec_depth, dec_heads, hooks, pretrained = BACKBONES[release.backbone]
    stereo = release.task == "stereo"
    outputs = "disparity + confidence (2 channels)" if stereo else "flow u, v + confidence (3 channels)"
    cls = "CroCoForStereoMatching" if stereo else "CroCoForOpticalFlow"
    return f"""| | |
|---|---|
| checkpoint | `{release.checkpoint}` |
| architecture | `{cls}` (`model_type: croco_{release.task}`) |
| encoder | ViT, width {enc}, {enc_depth} blocks, {enc_heads} heads, patch 16, 2D RoPE (base 100); both images in one batched pass |
| decoder | width {dec}, {dec_depth} blocks, {dec_heads} heads, cross-attention to the second image |
| head | DPT on blocks {hooks} (encoder blocks, then decoder blocks), output {outputs} |
| parameters | {PARAMETERS[(release.task, release.backbone)]:,} |
| initialised from | `{pretrained}` (CroCo v2 pre-training) |
| training crop | {release.crop[0]}×{release.crop[1]} (`crop_size`; the model runs on any multiple of 32) |
| loss | `{release.loss}` |
| tiled inference | windows of the crop, confidence weights `{release.tile_conf_mode}`, overlap 0.7 by default (upstream `test.py`; its submission command uses {release.overlap_hint}) |"""


def release_card(checkpoint: str, repo: str | None = None) -> str:
    """The model card of one of the 12 released checkpoints (``repo``: the Hub id the card's snippet loads)."""
    if checkpoint not in RELEASES:
        raise ValueError(f"unknown CroCo-Stereo/Flow release {checkpoint!r}; known: {', '.join(RELEASES)}")
    release = RELEASES[checkpoint]
    stereo = release.task == "stereo"
    repo = repo or f"naver/{release.stem}"
    method = "CroCo-Stereo" if stereo else "CroCo-Flow"
    measured = MEASURED[release.task]
    what = ("the disparity of the left image given the right one (rectified pair)" if stereo else
            "the optical flow (u, v) from the first frame to the second")
    speed = (f"Full-HD (1920×1080) latency of this architecture with tiling at the released crop is measured by "
             f"`benchmarks/croco_stereo_flow.py` (per stage: windowing, forward, blending); a reduced-size CPU run "
             f"is in `{BENCHMARK_JSON}`, GPU numbers are written by `make bench` on a CUDA machine."
             if (stereo and release.backbone == "vitl_base") else
             "Speed: see `benchmarks/croco_stereo_flow.py` (full-HD tiled latency of the ViT-L/Base stereo model).")
    body = f"""
# {method}: {BACKBONE_TITLES[release.backbone]} (`{release.checkpoint}`)

{method} predicts {what}, with a per-pixel confidence. A CroCo v2 encoder reads both images (shared weights, one
batched pass), a decoder attends from the first image's tokens to the second's, and a DPT head turns four block
outputs into a full-resolution map. This checkpoint is {release.purpose}.

These are the official weights `{release.checkpoint}`
(https://download.europe.naverlabs.com/ComputerVision/CroCo/StereoFlow_models/{release.checkpoint}) from NAVER LABS
Europe ([naver/croco](https://github.com/naver/croco), `stereoflow/`), converted to a `transformers` model with nlv_hf
(`nlv-hf convert croco-{release.task} {release.checkpoint} {release.stem}`).
Paper: ICCV 2023 ([arXiv:2211.10408](https://arxiv.org/abs/2211.10408)).

{_table(release)}

## Usage

{_usage(release.task, repo)}

The pipeline reproduces upstream's `tiled_pred`: images smaller than the crop are upscaled first, windows are batched
through the model and blended by confidence. `AutoModel.from_pretrained(repo)` gives the bare model
(`model(left, right).prediction` for normalised B×3×H×W inputs whose sides are multiples of 32). The Space
`spaces/croco_stereo_flow` shows the same interactively (`nlv-hf demo --checkpoint croco_stereo_flow=<folder>`).

## Training (reported)

*Reported* by the authors (upstream `stereoflow/README.MD` training command), not reproduced here: {release.training}

## Results (reported)

{release.reported or _NO_NUMBERS}

## Fidelity and speed (measured by nlv_hf)

*Measured* on CPU, float32, torch {MEASURED["torch"]}, transformers {MEASURED["transformers"]}, {MEASURED["date"]}:
- **Parity with the upstream code** (naver/croco at commit `{MEASURED["upstream_commit"]}`): on the golden fixture
  `{measured["fixture"]}` (a small random {method} built and run with the upstream code), every recorded output —
  encoder blocks of both images, decoder blocks, DPT head, forward, confidence loss, metrics and tiled inference with
  and without ground truth — is reproduced ({measured["tensors"]} compared tensors) with a maximum absolute difference of
  {measured["max_abs_diff"]} (tolerance 1e-5).
- **Checkpoint layout**: the {TENSORS[release.backbone]} tensors of `{release.checkpoint}` (18 of them duplicate DPT
  aliases, collapsed on conversion) map key-for-key and shape-for-shape onto this model
  ({PARAMETERS[(release.task, release.backbone)]:,} parameters, built on the meta device). The official file itself
  was not downloaded here.
- {speed}

{LICENCE}

## Citation

{CITATION}
"""
    return _metadata(release.task, release.datasets, release.extra_tags) + body


def converted_card(model, model_id: str | None, source: str | None) -> str:
    """The card written into a converted folder: the release card when ``source`` is one of the 12 released files,
    otherwise a short card built from the model's configuration (same metadata, usage and licence)."""
    name = Path(source).name if source else None
    if name in RELEASES:
        return release_card(name, repo=model_id)
    config = model.config
    task = config.task
    method = "CroCo-Stereo" if task == "stereo" else "CroCo-Flow"
    repo = model_id or f"nlv_hf/{config.model_type}"
    params = sum(p.numel() for p in model.parameters())
    body = f"""
# {repo}

{method} ({type(model).__name__}, {params:,} parameters): a CroCo v2 encoder/decoder with a DPT head predicting
{"the disparity of the left image" if task == "stereo" else "the optical flow (u, v)"} and a per-pixel confidence.
Converted with `nlv_hf` from the checkpoint `{source or "unknown"}` (naver/croco, `stereoflow/` format); the
conversion is checked by parity tests against the upstream code.

Training crop {config.crop_size[0]}×{config.crop_size[1]}, loss `{config.loss_type}`, tiled inference with
`{config.tile_conf_mode}` confidence weights and overlap {config.tile_overlap} (upstream's evaluation setting).

## Usage

{_usage(task, repo)}

{LICENCE}

Paper: Weinzaepfel et al., *CroCo v2: Improved Cross-view Completion Pre-training for Stereo Matching and Optical
Flow*, ICCV 2023.
"""
    return _metadata(task, None, []) + body


def write_release_cards(out_dir: str | Path) -> list[Path]:
    """Write the 12 release cards as ``<out_dir>/<stem>.md``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for checkpoint, release in RELEASES.items():
        path = out_dir / f"{release.stem}.md"
        path.write_text(release_card(checkpoint), encoding="utf-8")
        paths.append(path)
    return paths


__all__ = ["MEASURED", "RELEASES", "Release", "converted_card", "release_card", "write_release_cards"]


if __name__ == "__main__":
    for written in write_release_cards(sys.argv[1] if len(sys.argv) > 1 else "model_cards"):
        print(written)
