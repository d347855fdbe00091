"""Names and kinds of imported GEMMs, read from the graph: its node scopes and its structure.

Kinds follow the dataflow between GEMMs (walking through the non-GEMM operators in between), so
they do not depend on how an exporter names things:

- a Conv reading the network input with stride = kernel and no padding: `patch_embed`; other
  convolutions: `conv`;
- a product of two activations whose result reaches a Softmax: `qk`; one whose A comes out of a
  Softmax: `av`; any other: `matmul`;
- a weight GEMM feeding a `qk`/`av` operand: `qkv`; fed by an `av`: `proj`; whose result reaches
  no further GEMM: `head`; feeding a weight GEMM through an activation function (GELU, ReLU, ...):
  `fc1`; fed by an `fc1` that way: `fc2`; else a kind named by its scope's last part (`.fc1`;
  `.reduction`, Swin's patch merging, is `patch_merge`), else `linear`.

Names: the node's scope as exporters write it (`/blocks/blocks.0/attn/qkv/MatMul` ->
`blocks.0.attn.qkv`), else its weight's parameter name (`layer1.0.conv1.weight` ->
`layer1.0.conv1`), else the node name unless generated (`MatMul_12`), else the weight's name,
else op type and position; products of two activations get their kind
appended (`blocks.0.attn.qk`); repeats get `_2`, `_3`, ...
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence

from simulator.workload.kinds import BUILTIN_KINDS
from simulator.workload.onnx_graph import Graph
from simulator.workload.onnx_ops import GEMM_OPS, GemmOp

ACTIVATION_FUNCTIONS = frozenset(
    {"Relu", "Gelu", "Erf", "Tanh", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "PRelu", "Elu", "Selu",
     "Celu", "Softplus", "Mish", "Clip", "ThresholdedRelu"}
)  # fmt: skip
SOFTMAX = frozenset({"Softmax", "LogSoftmax"})
# a scope's last part that names a kind under another name (Swin's patch merging: `downsample.reduction`)
NAME_ALIASES = {"reduction": "patch_merge"}


def _reached_downstream(graph: Graph, tensor: str) -> list[tuple[int, frozenset[str]]]:
    """(GEMM node index, flags) for every GEMM the tensor reaches through non-GEMM nodes, plus
    (-1, flags) when it reaches a graph output. Flags: 'softmax' and 'activation' met on the way."""
    return _walk(graph, [(tensor, frozenset())], downstream=True)


def _reached_upstream(graph: Graph, tensor: str) -> list[tuple[int, frozenset[str]]]:
    """Like _reached_downstream, walking towards the inputs; (-1, flags) when a graph input is reached."""
    return _walk(graph, [(tensor, frozenset())], downstream=False)


def _walk(
    graph: Graph, start: Iterable[tuple[str, frozenset[str]]], downstream: bool
) -> list[tuple[int, frozenset[str]]]:
    found: list[tuple[int, frozenset[str]]] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = deque(start)
    while todo:
        tensor, flags = todo.popleft()
        if (tensor, flags) in seen or tensor in graph.constants:
            continue
        seen.add((tensor, flags))
        if downstream and tensor in graph.outputs:
            found.append((-1, flags))
        if not downstream and tensor in graph.inputs:
            found.append((-1, flags))
        indices = graph.consumers.get(tensor, []) if downstream else [graph.producer.get(tensor, -1)]
        for i in indices:
            if i < 0:
                continue
            node = graph.nodes[i]
            if node.op_type in GEMM_OPS:
                found.append((i, flags))
                continue
            more = flags
            if node.op_type in SOFTMAX:
                more = more | {"softmax"}
            elif node.op_type in ACTIVATION_FUNCTIONS:
                more = more | {"activation"}
            for t in node.output if downstream else node.input:
                if t:
                    todo.append((t, more))
    return found


def infer_kinds(graph: Graph, ops: Sequence[GemmOp], scope_names: Sequence[str]) -> list[str]:
    """The kind of each GEMM (see the module docstring for the rules, applied in that order)."""
    kinds: dict[int, str] = {}
    by_index = {op.index: op for op in ops}
    down = {op.index: _reached_downstream(graph, op.node.output[0]) for op in ops}
    up_a = {op.index: _reached_upstream(graph, op.a) for op in ops}
    for op in ops:
        if op.family == "conv":
            kinds[op.index] = "patch_embed" if _is_patch_embedding(graph, op, up_a[op.index]) else "conv"
        elif not op.b_constant:
            if any("softmax" in flags for _, flags in down[op.index]):
                kinds[op.index] = "qk"
            elif any("softmax" in flags for _, flags in up_a[op.index]):
                kinds[op.index] = "av"
            else:
                kinds[op.index] = "matmul"
    for op in ops:  # weight GEMMs whose role follows from the attention around them
        if op.index in kinds:
            continue
        below = [i for i, _ in down[op.index] if i >= 0]
        above = [i for i, _ in up_a[op.index] if i >= 0]
        if any(kinds.get(i) in ("qk", "av") for i in below):
            kinds[op.index] = "qkv"
        elif any(kinds.get(i) == "av" for i in above):
            kinds[op.index] = "proj"
        elif not below:
            kinds[op.index] = "head"
        elif any("activation" in flags and _is_weight_matmul(by_index.get(i)) for i, flags in down[op.index]):
            kinds[op.index] = "fc1"
    for op, scope in zip(ops, scope_names, strict=True):
        if op.index in kinds:
            continue
        if any("activation" in flags and kinds.get(i) == "fc1" for i, flags in up_a[op.index]):
            kinds[op.index] = "fc2"
        else:
            last = scope.rsplit(".", 1)[-1]
            hint = NAME_ALIASES.get(last, last)
            known = BUILTIN_KINDS.get(hint)
            kinds[op.index] = hint if known is not None and known.b_is_weight and hint != "other" else "linear"
    return [kinds[op.index] for op in ops]


def _is_weight_matmul(op: GemmOp | None) -> bool:
    return op is not None and op.b_constant and op.family == "matmul"


def _is_patch_embedding(graph: Graph, op: GemmOp, above: list[tuple[int, frozenset[str]]]) -> bool:
    """A convolution of the network input whose stride equals its kernel, without padding."""
    if any(i >= 0 for i, _ in above):
        return False
    node = op.node
    kernel = tuple(graph.shapes[op.b][2:])
    strides = pads = None
    for attr in node.attribute:
        if attr.name == "strides":
            strides = tuple(attr.ints)
        elif attr.name == "pads":
            pads = tuple(attr.ints)
    return strides == kernel and not any(pads or ()) and _attr_string(node, "auto_pad") in ("", "NOTSET", "VALID")


def _attr_string(node, name: str) -> str:
    for attr in node.attribute:
        if attr.name == name:
            return attr.s.decode()
    return ""


def scope_name(graph: Graph, op: GemmOp) -> str:
    """A GEMM's name from the graph (see the module docstring), before kinds and de-duplication."""
    node = op.node
    if "/" in node.name:
        parts = [p for p in node.name.split("/") if p]
        if len(parts) > 1 and parts[-1].split("_")[0] == node.op_type:
            parts = parts[:-1]  # the op itself: `MatMul`, `MatMul_1`
        parts = [p for j, p in enumerate(parts) if not (j + 1 < len(parts) and parts[j + 1].startswith(p + "."))]
        if parts:
            return ".".join(parts)
    weight = op.b if op.b in graph.initializer_names and not op.b.startswith("onnx::") else ""
    for suffix in (".weight", "_weight", ".W", "_W"):
        if weight.endswith(suffix) and len(weight) > len(suffix):
            return weight[: -len(suffix)]
    generated = re.fullmatch(rf"{node.op_type}(_\d+)?", node.name) is not None  # `MatMul_12`
    if node.name and not generated:
        return node.name
    return weight or node.name or f"{node.op_type.lower()}{op.index}"


def kinds_and_names(graph: Graph, ops: Sequence[GemmOp]) -> list[tuple[str, str]]:
    """(unique name, kind) of each GEMM, in graph order."""
    scopes = [scope_name(graph, op) for op in ops]
    kinds = infer_kinds(graph, ops, scopes)
    names: list[str] = []
    used: set[str] = set()
    for op, scope, kind in zip(ops, scopes, kinds, strict=True):
        base = scope
        if not op.b_constant and op.family == "matmul" and not base.endswith("." + kind) and base != kind:
            base = f"{base}.{kind}"
        name, repeat = base, 1
        while name in used:
            repeat += 1
            name = f"{base}_{repeat}"
        used.add(name)
        names.append(name)
    return list(zip(names, kinds, strict=True))
