"""``nlv-hf`` command line: convert | export | train | demo | bench.

Each sub-command dispatches to a library function listed in the tables below (``"module:function"`` strings, imported
only when used, so ``nlv-hf --help`` stays fast). Logic lives in the library, not here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# method name -> converter entry point ``fn(checkpoint, out_dir, image_size=None, model_id=None, overwrite=False)``
CONVERTERS = {
    "croco": "nlv_hf.models.croco.convert_croco_original:convert_croco_checkpoint",
    "croco-stereo": "nlv_hf.models.croco.convert_croco_stereo_flow_original:convert_croco_stereo_checkpoint",
    "croco-flow": "nlv_hf.models.croco.convert_croco_stereo_flow_original:convert_croco_flow_checkpoint",
    "multi-hmr": "nlv_hf.models.multi_hmr.convert_multi_hmr_original:convert_multi_hmr_checkpoint",
}

# recipe name -> ``fn(argv: list[str]) -> None`` (HfArgumentParser-based training entry points)
TRAIN_RECIPES: dict[str, str] = {
    "croco-pretrain": "nlv_hf.training.croco_pretrain:main",
    "croco-stereo": "nlv_hf.training.croco_stereo_flow:main_stereo",
    "croco-flow": "nlv_hf.training.croco_stereo_flow:main_flow",
    "multi-hmr": "nlv_hf.training.multi_hmr:main",
}

# other commands that take their own argv: name -> ``fn(argv)``
COMMANDS: dict[str, str] = {
    "demo": "nlv_hf.demo:main",
    "eval": "nlv_hf.evaluation.stereo_flow:main",
}


def _end_distributed() -> None:
    """Tear down the process group a distributed run (``accelerate launch`` / ``torchrun``) created: left to
    interpreter exit, gloo's worker threads can abort the process ("terminate called without an active exception")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _resolve(ref: str):
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def _parse_size(text: str | None):
    if text is None:
        return None
    parts = [int(p) for p in text.lower().replace("x", ",").split(",") if p]
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"--image-size must be N or HxW, got {text!r}")
    return parts[0] if len(parts) == 1 else parts


def _convert(args) -> int:
    convert = _resolve(CONVERTERS[args.method])
    out = convert(args.checkpoint, args.out_dir, image_size=_parse_size(args.image_size), model_id=args.model_id,
                  overwrite=args.overwrite)
    print(f"converted {args.checkpoint} -> {out}")
    return 0


def _export(args) -> int:
    from transformers import AutoConfig, AutoImageProcessor

    from ._registration import auto_classes, register_auto_classes
    from .conversion import atomic_output_dir
    from .hub import export_model

    register_auto_classes()
    config = AutoConfig.from_pretrained(args.model_dir)
    entry = auto_classes().get(config.model_type)
    if entry is None:
        raise ValueError(f"{args.model_dir} holds a {config.model_type!r} model, which is not an nlv_hf model")
    architecture = (getattr(config, "architectures", None) or [None])[0]
    model_classes = [cls for name, cls in entry.items() if name.startswith("Auto")]
    cls = next((c for c in model_classes if c.__name__ == architecture), entry["AutoModel"])
    model = cls.from_pretrained(args.model_dir)
    try:
        processor = AutoImageProcessor.from_pretrained(args.model_dir)
    except (OSError, ValueError):
        processor = None
    with atomic_output_dir(args.out_dir, overwrite=args.overwrite) as tmp:
        export_model(model, tmp, processor=processor, model_id=args.model_id)
    print(f"exported {args.model_dir} -> {args.out_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nlv-hf", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    conv = sub.add_parser("convert", help="convert an official checkpoint into a Hub-ready folder")
    conv.add_argument("method", choices=sorted(CONVERTERS))
    conv.add_argument("checkpoint", help="path to the official checkpoint file")
    conv.add_argument("out_dir", help="output folder (written atomically)")
    conv.add_argument("--image-size", default=None, help="N or HxW: convert for another input size")
    conv.add_argument("--model-id", default=None, help="Hub id to name in the model card, e.g. naver/croco-v2")
    conv.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    conv.set_defaults(func=_convert)

    exp = sub.add_parser("export", help="re-export a saved model folder as a Hub-ready folder with remote code")
    exp.add_argument("model_dir")
    exp.add_argument("out_dir")
    exp.add_argument("--model-id", default=None)
    exp.add_argument("--overwrite", action="store_true")
    exp.set_defaults(func=_export)

    train = sub.add_parser("train", help="train with a recipe (Trainer; works under accelerate launch / torchrun)",
                           add_help=False)
    train.add_argument("recipe", choices=sorted(TRAIN_RECIPES) or ["<none registered>"])
    train.set_defaults(func=None)

    for name in sorted(COMMANDS):
        cmd = sub.add_parser(name, add_help=False)
        cmd.set_defaults(func=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train" and len(argv) > 1 and argv[1] in TRAIN_RECIPES:
        try:
            _resolve(TRAIN_RECIPES[argv[1]])(argv[2:])
        finally:
            _end_distributed()
        return 0
    if argv and argv[0] in COMMANDS:
        _resolve(COMMANDS[argv[0]])(argv[1:])
        return 0
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:  # ConversionError and other input errors: a clear message, no traceback
        print(f"nlv-hf {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
