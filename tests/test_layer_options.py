"""Per-GEMM ABFT options: thresholds and check blocking by GEMM name or kind, and what blocking costs."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from simulator import api
from simulator.abft.check_cost import abft_check_work
from simulator.abft.checksum import block_deviations
from simulator.abft.policies import ApproxAbft, PolicyContext
from simulator.abft.protocol import Action, TileCheck
from simulator.config.abft_options import DEFAULT_THRESHOLDS, AbftConfig, Blocking, Thresholds
from simulator.config.enums import Placement
from simulator.config.loader import load_hw
from simulator.errors import ConfigError
from simulator.mapping.schedule import schedule_gemm
from simulator.mapping.tiling import fold_at
from simulator.verify.verifier import FoldVerification
from simulator.workload.gemm import Gemm

OPTS = AbftConfig(
    thresholds={"fc2": Thresholds(t1=2, t2=1)},
    layer_thresholds={"block1.fc2": Thresholds(t1=8, t2=4)},
    block_rows=4,
    blocking={"qkv": Blocking(rows=2, cols=2), "block0.qkv": Blocking(rows=8, cols=0)},
)


def test_name_overrides_kind_overrides_default():
    assert OPTS.thresholds_for("fc2", "block1.fc2") == Thresholds(t1=8, t2=4)
    assert OPTS.thresholds_for("fc2", "block0.fc2") == Thresholds(t1=2, t2=1)
    assert OPTS.thresholds_for("fc2") == Thresholds(t1=2, t2=1)
    assert OPTS.thresholds_for("fc1", "block1.fc1") == DEFAULT_THRESHOLDS
    assert OPTS.block_for("qkv", "block0.qkv") == (8, 0)
    assert OPTS.block_for("qkv", "block1.qkv") == (2, 2)
    assert OPTS.block_for("fc1", "block1.fc1") == (4, 0)  # block_rows / block_cols


def test_keys_are_checked_against_the_workload():
    assert OPTS.unknown_keys(["block0.qkv", "block1.fc2"]) == []
    assert OPTS.unknown_keys(["block0.qkv"]) == ["block1.fc2"]
    with pytest.raises(ValidationError):
        AbftConfig(blocking={"fc1": {"rows": -1, "cols": 0}})
    with pytest.raises(ValidationError, match=r"unknown GEMM kind 'blk\.fc9'"):
        AbftConfig(thresholds={"blk.fc9": Thresholds(t1=1, t2=1)})  # per name: layer_thresholds
    bad = AbftConfig(layer_thresholds={"blk.fc9": Thresholds(t1=1, t2=1)})
    with pytest.raises(ConfigError, match=r"abft: unknown GEMM kind or name 'blk\.fc9' in workload tiny_gemms"):
        api.run("edge_32x32", "tests/data/tiny_gemms.yaml", ["approx_abft"], abft=bad)


def test_approx_abft_uses_the_gemms_own_thresholds():
    # one error of 5 (absolute units) in a 4x4 block: MSD = 5; block1.fc2 has T1 = 8 (accept),
    # every other fc2 has T1 = 2 (5 > 2; RSD = CSD = 5 > T2 = 1 -> rows and columns -> the tile)
    policy = ApproxAbft(PolicyContext(abft=OPTS.model_copy(update={"threshold_mode": "absolute"})))
    dev = tuple(block_deviations(np.array([1]), np.array([2]), np.array([5], np.int64), (4, 4)))

    def check(name: str) -> TileCheck:
        return TileCheck(0, 0, 0, 0, FoldVerification("fc2", 1.0, dev, False, name))

    assert policy.decide(check("block1.fc2")).action is Action.ACCEPT
    assert policy.decide(check("block0.fc2")).action is Action.RECOMPUTE


def test_blocked_check_work_by_hand():
    # OS, a 4x4 array, GEMM 4 x 8 x 4: one fold of r = c = 4 outputs over k = 8.
    hw = load_hw("edge_32x32", ["array.rows=4", "array.cols=4", "array.dataflow=os"])
    s = schedule_gemm(Gemm("g", "fc1", 4, 8, 4), hw)
    fold = fold_at(s.dataflow, 4, 8, 4, 4, 4, 0)
    one = abft_check_work(s, fold, Placement.SIDE_UNIT)
    # one block: encode (4-1)*8 + 8*(4-1) = 48, verify 4*3 + 4*3 = 24, predict 8*4 + 4*8 = 64, compares 8
    assert (one.checksum_adds, one.checksum_macs, one.compares) == (72, 64, 8)
    quad = abft_check_work(s, fold, Placement.SIDE_UNIT, (2, 2))
    # 2 x 2 blocks of 2x2: encode (4-2)*8 + 8*(4-2) = 32, verify 4*2 + 4*2 = 16,
    # predict 2*8*4 + 2*4*8 = 128, compares 4*2 + 4*2 = 16
    assert (quad.checksum_adds, quad.checksum_macs, quad.compares) == (48, 128, 16)
    assert abft_check_work(s, fold, Placement.SIDE_UNIT, (4, 4)) == one  # a block as large as the fold
    arr = abft_check_work(s, fold, Placement.IN_ARRAY, (2, 2))
    assert arr.extra_array_macs == 128 + 4 * 8  # + one corner per block: 4 blocks x k


def test_finer_blocks_of_one_gemm_cost_checksum_work_in_the_engine():
    hw = ["array.rows=8", "array.cols=8"]
    base = api.run("edge_32x32", "tests/data/tiny_gemms.yaml", ["detect_only"], overrides=hw)
    fine = AbftConfig(blocking={"blk.fc2": Blocking(rows=2, cols=2)})
    blocked = api.run("edge_32x32", "tests/data/tiny_gemms.yaml", ["detect_only"], overrides=hw, abft=fine)
    e0 = base.policies[0].energy_pj
    e1 = blocked.policies[0].energy_pj
    assert e1 > e0
    layers0 = {layer.name: layer.energy_pj for layer in base.policies[0].layers}
    layers1 = {layer.name: layer.energy_pj for layer in blocked.policies[0].layers}
    assert layers1["blk.qkv"] == layers0["blk.qkv"] and layers1["blk.qk"] == layers0["blk.qk"]
    assert layers1["blk.fc2"] > layers0["blk.fc2"]
