"""`abftsim import-model` (registered by cli.model): a timm or Hugging Face ViT / DeiT checkpoint -> a model bundle."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from simulator import api
from simulator.cli.common import EXIT_OK
from simulator.cli.outputs import check_outputs, write_output
from simulator.config.loader import DEFAULT_HW
from simulator.errors import ConfigError


def add_import_command(sub: Any) -> None:
    """`import-model`: a timm / Hugging Face ViT or DeiT checkpoint -> a model bundle."""
    imp = sub.add_parser("import-model", help="convert a timm or Hugging Face ViT/DeiT checkpoint to a model bundle")
    imp.add_argument("checkpoint", help="state dict: .safetensors, a torch.save .pth/.bin, or .npz")
    imp.add_argument(
        "--config",
        required=True,
        metavar="PATH",
        help="the checkpoint's config JSON (timm num_heads / Hugging Face num_attention_heads, ...)",
    )
    imp.add_argument(
        "--calibration",
        required=True,
        metavar="PATH",
        help=".npz of `images` (float32 N x C x H x W model inputs) and `labels`: int8 scales",
    )
    imp.add_argument("--out", required=True, metavar="PATH", help="model bundle .npz to write")
    imp.add_argument("--name", help="model name (default: the checkpoint's file stem)")
    imp.add_argument("--hw", default=DEFAULT_HW, help="hardware whose datatype the int8 accuracy is measured on")
    imp.add_argument("--quiet", action="store_true", help="print nothing")  # fmt: skip
    imp.set_defaults(handler=_cmd_import_model)


def _cmd_import_model(args: argparse.Namespace) -> int:
    import numpy as np

    from simulator.functional.bundle import load_images
    from simulator.functional.checkpoint import read_tensors
    from simulator.functional.importer import import_bundle

    check_outputs({"--out": args.out}, (args.checkpoint, args.config, args.calibration))
    try:
        config = json.loads(Path(args.config).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{args.config}: cannot read the config JSON: {exc}") from None
    try:
        tensors = read_tensors(args.checkpoint)
        calibration = load_images(args.calibration, "calibration")
        params, arrays, recorded = import_bundle(tensors, config, calibration, api.resolve_hw(args.hw),
                                                 args.name or Path(args.checkpoint).stem)  # fmt: skip
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"{args.checkpoint}: {exc}") from None
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    write_output(args.out, buffer.getvalue())
    if not args.quiet:
        cfg = params.config
        sys.stdout.write(
            f"{cfg.image_size}x{cfg.image_size} images, patch {cfg.patch_size}, hidden {cfg.hidden}, "
            f"depth {cfg.depth}, {cfg.heads} heads, {cfg.classes} classes{', distilled' if cfg.distilled else ''}, "
            f"GELU {cfg.gelu}, LayerNorm eps {cfg.ln_eps:g}\ncalibration split ({len(calibration)} images): float "
            f"{100 * recorded['calibration_float_accuracy']:.2f} %, int8 "
            f"{100 * recorded['calibration_int8_accuracy']:.2f} %\nwrote {args.out}\n"
        )
    return EXIT_OK
