"""Write a reference network (simulator/workload/onnx_models.py) as an .onnx file.

Usage: python scripts/onnx_model.py resnet50 -o resnet50.onnx [--batch N|--dynamic-batch] [--weights-seed S]
Weights are shape-only placeholders unless --weights-seed is given (then the file holds random
weights and runs in any ONNX runtime; ResNet-50 is then about 100 MB).
"""

from __future__ import annotations

import argparse

import onnx

from simulator.workload import onnx_models

MODELS = {
    "vit_base_16": onnx_models.vit,
    "swin_tiny": onnx_models.swin,
    "resnet50": onnx_models.resnet50,
    "small_cnn": onnx_models.small_cnn,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("-o", "--out", required=True)
    parser.add_argument("--batch", type=int, default=1, help="fixed batch size (default 1)")
    parser.add_argument("--dynamic-batch", action="store_true", help="a symbolic batch axis `batch_size` instead")
    parser.add_argument("--weights-seed", type=int, help="random weights from this seed instead of placeholders")
    args = parser.parse_args()
    batch = "batch_size" if args.dynamic_batch else args.batch
    onnx.save(MODELS[args.model](batch=batch, weights_seed=args.weights_seed), args.out)


if __name__ == "__main__":
    main()
