"""The GEMM kind registry: what each kind of GEMM means to the rest of the simulator.

A kind says whether B holds weights (read from memory, the same for every input) or
activations (computed at run time: keys, values), which statistics synthetic operands of the
kind follow, and under which key ABFT thresholds are looked up. Nothing else in the simulator
branches on a kind's name: it asks this registry. Adding a kind is one entry in BUILTIN_KINDS
(and, if it brings new operand statistics, one law in simulator/faults/operands.py).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType


class Statistics(enum.Enum):
    """The distribution of a synthetic operand (its law: simulator/faults/operands.py, OPERAND_LAWS)."""

    PIXELS = "pixels"  # normalised image patches ~ N(0, 1)
    LAYERNORM = "layernorm"  # LayerNorm output: N(0, 1), a few outlier channels (x 6)
    ATTENTION_OUTPUT = "attention_output"  # heads' context vectors ~ N(0, 0.5^2)
    GELU = "gelu"  # GELU(N(0, 1)): skewed, min ~ -0.17
    RELU = "relu"  # ReLU(N(0, 1)): a CNN's post-activation feature maps (im2col patches)
    GAUSSIAN = "gaussian"  # N(0, 1): queries, keys, values
    SOFTMAX = "softmax"  # entries of a softmax of K logits N(0, 2^2): in [0, 1], mean ~ 1/K
    WEIGHTS = "weights"  # trained weights ~ N(0, 0.02^2)


@dataclass(frozen=True, slots=True)
class GemmKind:
    """One kind of GEMM: its operands' roles and statistics and its ABFT threshold key."""

    name: str
    b_is_weight: bool  # B is a weight tensor (False: B is an activation, e.g. keys or values)
    a_statistics: Statistics
    threshold_key: str
    description: str

    @property
    def b_statistics(self) -> Statistics:
        return Statistics.WEIGHTS if self.b_is_weight else Statistics.GAUSSIAN


class KindRegistry(Mapping[str, GemmKind]):
    """An immutable name -> GemmKind mapping, in a fixed order (the order reports and plots use)."""

    __slots__ = ("_kinds",)

    def __init__(self, kinds: Iterable[GemmKind]) -> None:
        table: dict[str, GemmKind] = {}
        for kind in kinds:
            if kind.name in table:
                raise ValueError(f"GEMM kind {kind.name!r} is registered twice")
            table[kind.name] = kind
        self._kinds = MappingProxyType(table)

    def __getitem__(self, name: str) -> GemmKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise KeyError(f"unknown GEMM kind {name!r} (known: {', '.join(self._kinds)})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    @property
    def threshold_keys(self) -> tuple[str, ...]:
        """The keys ABFT thresholds may be given under, in registry order, without repeats."""
        return tuple(dict.fromkeys(k.threshold_key for k in self._kinds.values()))


def _kind(name: str, b_is_weight: bool, a: Statistics, description: str) -> GemmKind:
    return GemmKind(name, b_is_weight, a, name, description)


BUILTIN_KINDS = KindRegistry(
    (
        _kind("patch_embed", True, Statistics.PIXELS, "patch embedding: image patches x projection weights"),
        _kind("qkv", True, Statistics.LAYERNORM, "query/key/value projection"),
        _kind("qk", False, Statistics.GAUSSIAN, "attention scores: queries x keys^T, per head"),
        _kind("av", False, Statistics.SOFTMAX, "attention context: probabilities x values, per head"),
        _kind("proj", True, Statistics.ATTENTION_OUTPUT, "attention output projection"),
        _kind("fc1", True, Statistics.LAYERNORM, "MLP expansion"),
        _kind("fc2", True, Statistics.GELU, "MLP contraction (after GELU)"),
        _kind("head", True, Statistics.LAYERNORM, "classifier"),
        _kind("other", True, Statistics.LAYERNORM, "a weight GEMM of no particular role"),
        _kind("patch_merge", True, Statistics.LAYERNORM, "Swin patch merging: 2x2 neighbours (4C) -> 2C"),
        _kind("linear", True, Statistics.LAYERNORM, "an imported fully connected layer of no recognised role"),
        _kind("conv", True, Statistics.RELU, "an imported convolution as an im2col GEMM"),
        _kind("matmul", False, Statistics.GAUSSIAN, "an imported product of two activations"),
    )
)

GEMM_KINDS: tuple[str, ...] = tuple(BUILTIN_KINDS)
