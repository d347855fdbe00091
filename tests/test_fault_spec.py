"""FaultSpec: defaults, accepted spellings and the errors bad values raise."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from simulator.config.enums import Datatype, FaultKind, Site
from simulator.config.fault_spec import FaultSpec
from simulator.workload.gemm import Gemm


def test_defaults() -> None:
    spec = FaultSpec()
    assert spec.ber == 0.0 and spec.kind is FaultKind.TRANSIENT and spec.seed == 0
    # the PE registers and the checksum hardware's words (issue 13: checksum hardware in the default set)
    assert spec.sites == (Site.ACC, Site.MULT, Site.A_REG, Site.B_REG, Site.CHK_PRED, Site.CHK_SUM, Site.CHK_CMP)
    assert spec.mbu_fraction == 0.0  # upsets flip one bit unless asked (faults.mbu)
    assert spec.bits is None and spec.gemms is None and spec.kinds is None
    assert spec.stuck_value == 1 and spec.permanent_count == 1


def test_accepted_spellings() -> None:
    spec = FaultSpec(ber=1e-9, sites="acc, a_reg", kind="permanent", stuck_value=0, bits=[3, 9], kinds=["qk"], seed=7)
    assert spec.sites == (Site.ACC, Site.A_REG) and spec.bits == (3, 9) and spec.kinds == ("qk",)
    assert FaultSpec(ber=0).ber == 0.0 and FaultSpec(ber=1).ber == 1.0
    assert FaultSpec(gemms="blk0.qkv,blk1.qkv").gemms == ("blk0.qkv", "blk1.qkv")


def test_frozen_and_hashable() -> None:
    spec = FaultSpec(ber=1e-9)
    with pytest.raises(ValidationError):
        spec.ber = 0.5  # type: ignore[misc]
    assert hash(spec) == hash(FaultSpec(ber=1e-9))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ber": -1e-9}, "ber"),
        ({"ber": 1.5}, "ber"),
        ({"ber": float("nan")}, "ber"),
        ({"ber": float("inf")}, "ber"),
        ({"ber": "lots"}, "ber"),
        ({"ber": True}, "ber"),
        ({"sites": ["acc", "alu"]}, "sites"),
        ({"sites": []}, "sites"),
        ({"sites": ["acc", "acc"]}, "sites"),
        ({"kind": "intermittent"}, "kind"),
        ({"stuck_value": 2}, "stuck_value"),
        ({"permanent_count": 0}, "permanent_count"),
        ({"bits": [5, 2]}, "bits"),
        ({"bits": [0, 32]}, "bits"),
        ({"bits": [-1, 3]}, "bits"),
        ({"bits": [1, 2, 3]}, "bits"),
        ({"kinds": ["convolution"]}, "kinds"),
        ({"kinds": []}, "kinds"),
        ({"gemms": []}, "gemms"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"rate": 1e-9}, "rate"),
    ],
)
def test_bad_values_name_their_key(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        FaultSpec(**kwargs)
    assert {str(err["loc"][0]) for err in info.value.errors()} == {field}


def test_selects() -> None:
    qkv, qk = Gemm("blk0.qkv", "qkv", 4, 4, 4), Gemm("blk0.qk", "qk", 4, 4, 4, count=2)
    assert FaultSpec().selects(qkv) and FaultSpec().selects(qk)
    assert FaultSpec(kinds=("qk",)).selects(qk) and not FaultSpec(kinds=("qk",)).selects(qkv)
    assert FaultSpec(gemms=("blk0.qkv",)).selects(qkv) and not FaultSpec(gemms=("blk0.qkv",)).selects(qk)
    assert not FaultSpec(gemms=("blk0.qkv",), kinds=("qk",)).selects(qkv)


def test_site_bits_clip_to_word_width() -> None:
    spec = FaultSpec(bits=(4, 20))
    assert spec.site_bits(Site.ACC, Datatype.INT8) == (4, 17)
    assert spec.site_bits(Site.MULT, Datatype.INT8) == (4, 12)
    assert spec.site_bits(Site.A_REG, Datatype.INT8) == (4, 4)
    assert spec.site_bits(Site.A_REG, Datatype.FP16) == (4, 12)
    assert FaultSpec(bits=(10, 31)).site_bits(Site.A_REG, Datatype.INT8) == (10, 0)  # acc still has bits
    assert FaultSpec().site_bits(Site.B_REG, Datatype.FP32) == (0, 32)
    with pytest.raises(ValueError, match="leaves no bit"):
        FaultSpec(bits=(16, 31), sites=("a_reg", "b_reg", "mult")).site_bits(Site.ACC, Datatype.INT8)


def test_injects_only_with_a_rate_or_stuck_bits() -> None:
    assert not FaultSpec().injects and not FaultSpec(ber=0.0, sites="acc").injects
    assert FaultSpec(ber=1e-12).injects
    assert FaultSpec(kind="permanent").injects  # stuck-at bits ignore the rate
