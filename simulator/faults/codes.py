"""The configuration enums as the fault kernels' integer codes (kernels/ knows only the integers)."""

from __future__ import annotations

from simulator.config.enums import Datatype, Site
from simulator.kernels.codes import (
    A_REG,
    ACC,
    B_REG,
    BF16,
    CHK_CMP,
    CHK_ENC,
    CHK_PRED,
    CHK_SUM,
    DRAIN,
    FP16,
    FP32,
    INT8,
    MULT,
    SRAM_A,
    SRAM_B,
    SRAM_C,
)  # fmt: skip
from simulator.mapping.dataflow import GEOMETRIES

DATAFLOW_CODE = {dataflow: geometry.kernel_code for dataflow, geometry in GEOMETRIES.items()}
DATATYPE_CODE = {Datatype.INT8: INT8, Datatype.FP16: FP16, Datatype.BF16: BF16, Datatype.FP32: FP32}
SITE_CODE = {
    Site.ACC: ACC, Site.MULT: MULT, Site.A_REG: A_REG, Site.B_REG: B_REG,
    Site.CHK_PRED: CHK_PRED, Site.CHK_SUM: CHK_SUM, Site.CHK_CMP: CHK_CMP,
    Site.SRAM_A: SRAM_A, Site.SRAM_B: SRAM_B, Site.SRAM_C: SRAM_C, Site.DRAIN: DRAIN, Site.CHK_ENC: CHK_ENC,
}  # fmt: skip
SITE_OF_CODE = {code: site for site, code in SITE_CODE.items()}
# the order in which sampling draws sites: append new sites last, or seeds change meaning
CANONICAL_SITES = (
    Site.ACC, Site.MULT, Site.A_REG, Site.B_REG, Site.CHK_PRED, Site.CHK_SUM, Site.CHK_CMP, Site.SRAM_A, Site.SRAM_B,
    Site.SRAM_C, Site.DRAIN, Site.CHK_ENC,
)  # fmt: skip
PE_SITES = tuple(s for s in CANONICAL_SITES if s.in_pe)  # drawn by faults.sampling, resolved by the kernels
CHECKSUM_SITES = tuple(s for s in CANONICAL_SITES if s.in_checksum)  # drawn by faults.checksum_faults
SRAM_SITES = tuple(s for s in CANONICAL_SITES if s.in_sram)  # faults.sram_faults / output_faults (opt-in)
