"""The GEMM kind registry: every kind is known to the code that needs it, nothing asks by name."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config.abft_options import DEFAULT_THRESHOLDS, AbftConfig, Thresholds
from simulator.config.enums import Datatype
from simulator.config.fault_spec import FaultSpec
from simulator.faults.operands import OPERAND_LAWS, real_operands, synthetic_operands
from simulator.workload.gemm import Gemm
from simulator.workload.kinds import BUILTIN_KINDS, GEMM_KINDS, GemmKind, KindRegistry, Statistics


def test_the_registry_keeps_the_original_kinds_first_and_adds_imported_ones():
    assert GEMM_KINDS[:9] == ("patch_embed", "qkv", "qk", "av", "proj", "fc1", "fc2", "head", "other")
    assert {"conv", "linear", "matmul", "patch_merge"} <= set(GEMM_KINDS)
    assert [k for k in GEMM_KINDS if not BUILTIN_KINDS[k].b_is_weight] == ["qk", "av", "matmul"]
    assert BUILTIN_KINDS.threshold_keys == GEMM_KINDS  # each built-in kind is its own threshold key


def test_every_statistics_has_a_law():
    assert set(OPERAND_LAWS) == set(Statistics)


def test_conv_operands_are_post_relu_patches_and_weights():
    a, b = real_operands(Gemm("c", "conv", 300, 72, 16), np.random.default_rng(0))
    assert a.min() == 0.0 and 0.4 < np.mean(a > 0) < 0.6  # half the ReLU inputs were negative
    assert abs(float(np.std(b)) - 0.02) < 0.003
    ops = synthetic_operands(Gemm("m", "matmul", 9, 8, 7), Datatype.INT8, seed=0, gemm_index=0, instance=0)
    assert ops.b_scale == 4.5 / 127  # an activation B is gaussian (code 127 = 4.5), not drawn as weights


def test_unknown_kinds_are_refused_everywhere():
    with pytest.raises(ValueError, match="unknown kind 'conv2d'"):
        Gemm("g", "conv2d", 1, 1, 1)
    with pytest.raises(ValueError, match="unknown GEMM kind 'conv2d'"):
        AbftConfig(thresholds={"conv2d": {"t1": 1, "t2": 1}})
    with pytest.raises(ValueError, match="unknown GEMM kind 'conv2d'"):
        FaultSpec(kinds=("conv2d",))
    with pytest.raises(KeyError, match="unknown GEMM kind 'conv2d'"):
        BUILTIN_KINDS["conv2d"]
    with pytest.raises(ValueError, match="registered twice"):
        KindRegistry([BUILTIN_KINDS["qk"], BUILTIN_KINDS["qk"]])


def test_thresholds_are_looked_up_by_the_kinds_threshold_key():
    cfg = AbftConfig(thresholds={"conv": {"t1": 3, "t2": 2}})
    assert cfg.thresholds_for("conv") == Thresholds(t1=3, t2=2)
    assert cfg.thresholds_for("linear") == DEFAULT_THRESHOLDS
    shared = KindRegistry([GemmKind("dwconv", True, Statistics.RELU, "conv", "depthwise")])
    assert shared.threshold_keys == ("conv",)
