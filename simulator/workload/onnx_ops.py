"""ONNX operators that multiply matrices -> GEMM shapes: MatMul, Gemm and Conv (and their quantised twins).

- MatMul / Gemm with a constant B (an initializer, or computed from initializers only, e.g. a
  DequantizeLinear of one): A's leading dimensions flatten into M, since every row meets the same
  weights: [.., M, K] x [K, N] -> one GEMM M x K x N.
- MatMul of two activations (attention scores and context): numpy broadcasting over the leading
  dimensions; each broadcast instance is one GEMM instance: [b, h, S, d] x [b, h, d, S] ->
  S x d x S with count = b x h. A B without leading dimensions is shared, so A's flatten into M.
- Conv as im2col: M = batch x output pixels, K = in-channels / groups x kernel area,
  N = out-channels / groups, count = groups (each group is its own product: grouped and depthwise
  convolutions do not share an A column between groups, so they are `groups` GEMMs, not one).

Element-wise operators, normalisation, softmax, pooling and data movement are not GEMMs and are
not simulated. Operators that do multiply matrices but have no mapping yet are refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from simulator.workload.onnx_graph import Graph, OnnxImportError, node_label, volume

# op type -> (input index of A, input index of B); the quantised twins take scales and zero points too
MATMUL_OPS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3), "Gemm": (0, 1)}
CONV_OPS = {"Conv": (0, 1), "ConvInteger": (0, 1), "QLinearConv": (0, 3)}
GEMM_OPS = frozenset(MATMUL_OPS) | frozenset(CONV_OPS)
# operators that multiply matrices but are not mapped to GEMMs (refused rather than dropped)
UNSUPPORTED_OPS = frozenset(
    {"ConvTranspose", "Einsum", "LSTM", "GRU", "RNN", "DeformConv", "Attention", "MultiHeadAttention",
     "FusedMatMul", "FusedConv", "FusedGemm", "QAttention", "MatMulNBits", "GroupQueryAttention"}
)  # fmt: skip
CONTROL_FLOW_OPS = frozenset({"If", "Loop", "Scan"})
STANDARD_DOMAINS = ("", "ai.onnx")
# in a runtime-specific domain (com.microsoft: QGemm, MatMulIntegerToFloat, ...) an operator whose
# name says it multiplies matrices is refused too, never silently dropped with its MACs
_MATRIX_WORDS = ("MatMul", "Gemm", "Conv", "Attention")


def multiplies_matrices_unmapped(node: Any) -> bool:
    """Whether a node multiplies matrices but has no GEMM mapping here."""
    if node.op_type in UNSUPPORTED_OPS:
        return True
    return node.domain not in STANDARD_DOMAINS and any(word in node.op_type for word in _MATRIX_WORDS)


@dataclass(frozen=True, slots=True)
class GemmOp:
    """One matrix-multiplying node of the graph and the GEMM it performs."""

    index: int  # position of the node in the graph
    node: Any
    m: int
    k: int
    n: int
    count: int
    a: str  # tensor names of the A and B operands
    b: str
    b_constant: bool

    @property
    def family(self) -> str:
        return "conv" if self.node.op_type in CONV_OPS else "matmul"


def gemm_ops(graph: Graph) -> list[GemmOp]:
    """Every matrix-multiplying node of the graph in graph order, with its GEMM shape."""
    ops = []
    for index, node in enumerate(graph.nodes):
        if multiplies_matrices_unmapped(node):
            where = (
                node_label(node, index)
                if node.domain in STANDARD_DOMAINS
                else f"{node_label(node, index)} of {node.domain}"
            )
            raise OnnxImportError(f"{where}: unsupported operator (it multiplies matrices, "
                                  "but abftsim has no GEMM mapping for it)")  # fmt: skip
        if node.op_type in CONTROL_FLOW_OPS and _has_gemm(node):
            raise OnnxImportError(f"{node_label(node, index)}: GEMMs inside control flow are not supported "
                                  "(the trip count is not known before run time)")  # fmt: skip
        if node.domain not in STANDARD_DOMAINS or node.op_type not in GEMM_OPS:
            continue
        op = _conv(graph, index) if node.op_type in CONV_OPS else _matmul(graph, index)
        if op is not None:
            ops.append(op)
    return ops


def _has_gemm(node: Any) -> bool:
    for attr in node.attribute:
        for sub in (*([attr.g] if attr.HasField("g") else []), *attr.graphs):
            if any(n.op_type in GEMM_OPS or multiplies_matrices_unmapped(n) or _has_gemm(n) for n in sub.node):
                return True
    return False


def _attribute(node: Any, name: str, default: Any) -> Any:
    for attr in node.attribute:
        if attr.name == name:
            if attr.type == attr.INT:
                return attr.i
            if attr.type == attr.INTS:
                return tuple(attr.ints)
            if attr.type == attr.STRING:
                return attr.s.decode()
    return default


def _operands(graph: Graph, index: int, table: Mapping[str, tuple[int, int]]) -> tuple[str, str]:
    node = graph.nodes[index]
    ia, ib = table[node.op_type]
    if len(node.input) <= max(ia, ib) or not node.input[ia] or not node.input[ib]:
        raise OnnxImportError(f"{node_label(node, index)}: missing an operand input")
    return node.input[ia], node.input[ib]


def _matmul(graph: Graph, index: int) -> GemmOp | None:
    node = graph.nodes[index]
    a_name, b_name = _operands(graph, index, MATMUL_OPS)
    a, b = graph.static_shape(a_name, index), graph.static_shape(b_name, index)
    a_const, b_const = a_name in graph.constants, b_name in graph.constants
    if a_const and b_const:
        return None  # constant-foldable: no run-time work
    if node.op_type == "Gemm":
        if len(a) != 2 or len(b) != 2:
            raise OnnxImportError(f"{node_label(node, index)}: Gemm needs 2-D operands, got {list(a)} and {list(b)}")
        m, k = (a[1], a[0]) if _attribute(node, "transA", 0) else a
        kb, n = (b[1], b[0]) if _attribute(node, "transB", 0) else b
        count = 1
    else:
        a2 = (1, *a) if len(a) == 1 else a
        b2 = (*b, 1) if len(b) == 1 else b
        m, k = a2[-2], a2[-1]
        kb, n = b2[-2], b2[-1]
        if len(b2) == 2:  # B shared by every leading index of A: those rows flatten into M
            m, count = volume(a2[:-1]), 1
        else:
            count = volume(_broadcast(a2[:-2], b2[:-2], node, index))
    if k != kb:
        raise OnnxImportError(f"{node_label(node, index)}: inner dimensions differ ({k} and {kb})")
    if min(m, k, n, count) <= 0:
        return None  # an empty product
    return GemmOp(index, node, m, k, n, count, a_name, b_name, b_const)


def _broadcast(x: tuple[int, ...], y: tuple[int, ...], node: Any, index: int) -> tuple[int, ...]:
    width = max(len(x), len(y))
    x, y = (1,) * (width - len(x)) + x, (1,) * (width - len(y)) + y
    out = []
    for p, q in zip(x, y, strict=True):
        if p != q and 1 not in (p, q):
            raise OnnxImportError(
                f"{node_label(node, index)}: batch dimensions {list(x)} and {list(y)} do not broadcast"
            )
        out.append(max(p, q))
    return tuple(out)


def _conv(graph: Graph, index: int) -> GemmOp | None:
    node = graph.nodes[index]
    x_name, w_name = _operands(graph, index, CONV_OPS)
    x, w = graph.static_shape(x_name, index), graph.static_shape(w_name, index)
    y = graph.static_shape(node.output[0], index)
    groups = _attribute(node, "group", 1)
    if len(x) < 3 or len(w) != len(x) or len(y) != len(x):
        raise OnnxImportError(f"{node_label(node, index)}: expected [N, C, spatial...] input and weights, "
                              f"got {list(x)} and {list(w)}")  # fmt: skip
    out_channels, in_per_group = w[0], w[1]
    if groups <= 0 or x[1] != in_per_group * groups or out_channels % groups:
        raise OnnxImportError(f"{node_label(node, index)}: {x[1]} input and {out_channels} output channels "
                              f"do not split into {groups} groups of weights {list(w)}")  # fmt: skip
    m = y[0] * volume(y[2:])
    k = in_per_group * volume(w[2:])
    n = out_channels // groups
    if min(m, k, n) <= 0:
        return None
    return GemmOp(index, node, m, k, n, groups, x_name, w_name, w_name in graph.constants)
