"""An ONNX model -> a Workload: shape inference, one GEMM per matrix-multiplying node, names and kinds."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulator.workload.gemm import Gemm
from simulator.workload.onnx_graph import OnnxImportError, inferred_graph, read_model
from simulator.workload.onnx_kinds import kinds_and_names
from simulator.workload.onnx_ops import gemm_ops
from simulator.workload.workload import Workload


def import_onnx(model: Any, name: str, *, batch: int | None = None, dims: Mapping[str, int] | None = None) -> Workload:
    """The workload of an ONNX ModelProto: one GEMM per matrix-multiplying node, named from the
    graph, kinds inferred from its structure (simulator/workload/onnx_kinds.py)."""
    graph = inferred_graph(model, batch, dims)
    ops = gemm_ops(graph)
    if not ops:
        raise OnnxImportError("the graph has no MatMul, Gemm or Conv with a static shape: nothing to simulate")
    named = kinds_and_names(graph, ops)
    gemms = tuple(Gemm(label, kind, op.m, op.k, op.n, op.count) for op, (label, kind) in zip(ops, named, strict=True))
    return Workload(name, gemms)


def load_onnx_workload(path: Path, *, batch: int | None = None, dims: Mapping[str, int] | None = None) -> Workload:
    """The workload of an .onnx file, named after the file."""
    return import_onnx(read_model(path), Path(path).stem, batch=batch, dims=dims)
