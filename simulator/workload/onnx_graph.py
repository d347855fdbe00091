"""An ONNX model as the importer sees it: static tensor shapes after shape inference, constants,
producers and consumers. Weights are never read (external data is not even loaded)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Shape = tuple[int | str | None, ...]  # an int per static dimension, the symbol (or None) otherwise


class OnnxImportError(ValueError):
    """A model that cannot become a workload; the message names the node or input at fault."""


def require_onnx() -> Any:
    """The `onnx` package, or a one-line error saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise OnnxImportError("reading ONNX models needs the onnx package: pip install 'abftsim[onnx]'") from None
    return onnx


def read_model(path: Path) -> Any:
    """The ModelProto of an .onnx file, without its external weight data."""
    onnx = require_onnx()
    from google.protobuf.message import DecodeError

    try:
        return onnx.load(str(path), load_external_data=False)
    except (OSError, DecodeError, ValueError) as exc:
        raise OnnxImportError(f"not a readable ONNX model ({type(exc).__name__}: {_one_line(exc)})") from None


def node_label(node: Any, index: int) -> str:
    """How errors name a node: `node 'name' (Op)`, or by position and output when unnamed."""
    if node.name:
        return f"node {node.name!r} ({node.op_type})"
    out = f", output {node.output[0]!r}" if node.output else ""
    return f"node #{index} ({node.op_type}{out})"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


@dataclass(frozen=True)
class Graph:
    """The main graph of a shape-inferred model, indexed for the importer's walks."""

    nodes: list[Any]
    shapes: dict[str, Shape]
    inputs: frozenset[str]  # graph inputs that are not initializers
    outputs: frozenset[str]
    constants: frozenset[str]  # initializers, Constant outputs, and what is computed from them only
    initializer_names: frozenset[str]
    producer: dict[str, int] = field(default_factory=dict)  # tensor -> index of the node making it
    consumers: dict[str, list[int]] = field(default_factory=dict)  # tensor -> indices of nodes reading it

    def static_shape(self, tensor: str, index: int) -> tuple[int, ...]:
        """The static shape of a node's input or output, or an error naming the node."""
        node = self.nodes[index]
        shape = self.shapes.get(tensor)
        if shape is None:
            raise OnnxImportError(
                f"{node_label(node, index)}: tensor {tensor!r} has no inferred shape{self._lost(tensor)}"
            )
        if any(not isinstance(d, int) for d in shape):
            dims = ", ".join(str(d) if d is not None else "?" for d in shape)
            raise OnnxImportError(
                f"{node_label(node, index)}: tensor {tensor!r} has shape [{dims}] with a dynamic dimension"
                f"{self._lost(tensor)}"
            )
        return shape  # type: ignore[return-value]

    def _lost(self, tensor: str) -> str:
        """Where shape inference lost track: the first upstream node whose inputs are static but
        whose output is not (typically a Reshape or Resize whose target is computed at run time)."""
        seen: set[str] = set()
        todo = [tensor]
        while todo:
            name = todo.pop()
            if name in seen or name not in self.producer:
                continue
            seen.add(name)
            index = self.producer[name]
            node = self.nodes[index]
            unknown = [t for t in node.input if t and not _static(self.shapes.get(t))]
            if not unknown:
                where = node_label(node, index)
                if node.domain not in ("", "ai.onnx"):
                    return (
                        f" (shape inference stops at {where}, an operator of domain {node.domain!r} it does not know)"
                    )
                return f" (shape inference stops at {where}, whose output size depends on run-time values)"
            todo.extend(unknown)
        return ""


def _static(shape: Shape | None) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)


def _shape_of(value_info: Any) -> Shape | None:
    tensor_type = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        return None
    dims: list[int | str | None] = []
    for d in tensor_type.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or None)
    return tuple(dims)


def bind_dimensions(model: Any, batch: int | None, dims: Mapping[str, int]) -> None:
    """Give every symbolic dimension of the graph inputs a size, in place: a named one from
    `dims`, a leading one the batch (default 1); anything else is an error naming the input."""
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    bindings = dict(dims)
    for value in graph.input:
        if value.name in initializers or not value.type.HasField("tensor_type"):
            continue
        shape = value.type.tensor_type.shape
        for position, d in enumerate(shape.dim):
            if d.HasField("dim_value"):
                if position == 0 and batch is not None and d.dim_value != batch:
                    raise OnnxImportError(
                        f"input {value.name!r}: the batch dimension is fixed at {d.dim_value} in the model; "
                        f"export it with a dynamic batch axis to simulate batch {batch}"
                    )
                continue
            if d.dim_param and d.dim_param in bindings:
                continue
            if position == 0:
                bindings[d.dim_param or f"{value.name}:0"] = 1 if batch is None else batch
                continue
            symbol = d.dim_param or "?"
            raise OnnxImportError(
                f"input {value.name!r}: dimension {position} ({symbol}) has no fixed size; set it with dims {symbol}=N"
            )
    unused = sorted(set(dims) - _symbols(graph))
    if unused:
        raise OnnxImportError(f"dims: the model has no symbolic dimension {unused[0]!r}")
    for value in (*graph.input, *graph.output, *graph.value_info):
        if not value.type.HasField("tensor_type"):
            continue
        for position, d in enumerate(value.type.tensor_type.shape.dim):
            key = d.dim_param or (f"{value.name}:0" if position == 0 and not d.HasField("dim_value") else None)
            if key in bindings:
                d.dim_value = bindings[key]


def _symbols(graph: Any) -> set[str]:
    return {
        d.dim_param
        for value in (*graph.input, *graph.output, *graph.value_info)
        if value.type.HasField("tensor_type")
        for d in value.type.tensor_type.shape.dim
        if d.dim_param
    }


def inferred_graph(model: Any, batch: int | None = None, dims: Mapping[str, int] | None = None) -> Graph:
    """Bind the symbolic input dimensions, run ONNX shape inference, and index the main graph."""
    onnx = require_onnx()
    model = onnx.ModelProto.FromString(model.SerializeToString())  # the caller's model stays as given
    bind_dimensions(model, batch, dims or {})
    model = _infer(onnx, model)
    while _carry_contrib_shapes(model):  # each pass may unlock shapes further down the graph
        model = _infer(onnx, model)
    g = model.graph
    shapes: dict[str, Shape] = {}
    for value in (*g.input, *g.value_info, *g.output):
        shape = _shape_of(value)
        if shape is not None:
            shapes[value.name] = shape
    for tensor in g.initializer:
        shapes[tensor.name] = tuple(int(d) for d in tensor.dims)
    initializer_names = frozenset(t.name for t in g.initializer)
    nodes = list(g.node)
    producer: dict[str, int] = {}
    consumers: dict[str, list[int]] = {}
    constants = set(initializer_names)
    for i, node in enumerate(nodes):
        for t in node.output:
            if t:
                producer[t] = i
        for t in node.input:
            if t:
                consumers.setdefault(t, []).append(i)
        if node.op_type == "Constant" or (node.input and all(not t or t in constants for t in node.input)):
            constants.update(t for t in node.output if t)
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    shapes.setdefault(node.output[0], tuple(int(d) for d in attr.t.dims))
    return Graph(
        nodes=nodes,
        shapes=shapes,
        inputs=frozenset(v.name for v in g.input if v.name not in initializer_names),
        outputs=frozenset(v.name for v in g.output),
        constants=frozenset(constants),
        initializer_names=initializer_names,
        producer=producer,
        consumers=consumers,
    )


def _infer(onnx: Any, model: Any) -> Any:
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, ValueError, RuntimeError) as exc:
        raise OnnxImportError(f"shape inference failed: {_one_line(exc)}") from None


# Operators of runtime-specific domains (ONNX Runtime's com.microsoft, found in optimised models)
# that ONNX shape inference does not know, whose first output has the shape of their first input.
SHAPE_PRESERVING_CONTRIB_OPS = frozenset(
    {"Gelu", "FastGelu", "BiasGelu", "QuickGelu", "BiasAdd", "SkipLayerNormalization", "LayerNormalization",
     "SkipSimplifiedLayerNormalization", "SimplifiedLayerNormalization", "BiasDropout", "BiasSoftmax", "Swish"}
)  # fmt: skip


def _carry_contrib_shapes(model: Any) -> bool:
    """Give the first output of each shape-preserving contrib operator its first input's type, where
    inference left it unknown; whether anything was added."""
    g = model.graph
    known = {v.name: v for v in (*g.input, *g.value_info, *g.output) if _shape_of(v) is not None}
    added = False
    for node in g.node:
        if node.domain in ("", "ai.onnx") or node.op_type not in SHAPE_PRESERVING_CONTRIB_OPS:
            continue
        if not node.input or not node.output or node.input[0] not in known or node.output[0] in known:
            continue
        value = g.value_info.add()
        value.CopyFrom(known[node.input[0]])
        value.name = node.output[0]
        known[value.name] = value
        added = True
    return added


def volume(dims: tuple[int, ...]) -> int:
    return math.prod(dims)
