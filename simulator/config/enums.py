"""Enumerations shared by the config schema and the domain: dataflows, datatypes, fault sites."""

from __future__ import annotations

from enum import StrEnum

import numpy as np


class Dataflow(StrEnum):
    """Which operand stays in the PEs while the others stream (SCALE-Sim's naming)."""

    OS = "os"  # output stationary: spatial M x N, temporal K
    WS = "ws"  # weight stationary: spatial K x N, temporal M
    IS = "is"  # input stationary:  spatial K x M, temporal N


class MappingPolicy(StrEnum):
    """How the mapping step picks each GEMM's fold order (mapping.loop_order)."""

    MIN_DRAM = "min_dram"  # the order moving the fewest DRAM bytes for the buffer sizes
    FIXED = "fixed"  # OS row-major, WS/IS output block outer (SCALE-Sim's order)


class Datatype(StrEnum):
    """Operand datatype; the accumulator type follows from it."""

    INT8 = "int8"  # int8 x int8 -> int16 product -> int32 accumulator (wraps)
    FP16 = "fp16"  # fp16 x fp16 -> fp32 product (exact) -> fp32 accumulator
    BF16 = "bf16"  # bf16 x bf16 -> fp32 product (exact) -> fp32 accumulator
    FP32 = "fp32"  # fp32 x fp32 -> fp32 product (rounded) -> fp32 accumulator

    @property
    def is_integer(self) -> bool:
        return self is Datatype.INT8

    @property
    def operand_bits(self) -> int:
        return {"int8": 8, "fp16": 16, "bf16": 16, "fp32": 32}[self.value]

    @property
    def operand_bytes(self) -> int:
        return self.operand_bits // 8

    @property
    def product_bits(self) -> int:
        return 16 if self is Datatype.INT8 else 32

    @property
    def acc_bits(self) -> int:
        return 32

    @property
    def acc_bytes(self) -> int:
        return self.acc_bits // 8

    @property
    def acc_numpy_dtype(self) -> np.dtype:
        return np.dtype(np.int32) if self.is_integer else np.dtype(np.float32)


class Site(StrEnum):
    """A register that a soft error can hit: a PE register, or a word of the checksum hardware."""

    ACC = "acc"  # accumulator / partial-sum register
    MULT = "mult"  # multiplier output register
    A_REG = "a_reg"  # activation (A operand) register
    B_REG = "b_reg"  # weight (B operand) register
    CHK_PRED = "chk_pred"  # checksum hardware: a predicted row / column sum accumulator, A (B e) or (e^T A) B
    CHK_SUM = "chk_sum"  # checksum hardware: an actual row / column sum accumulator, C e or e^T C
    CHK_CMP = "chk_cmp"  # checksum hardware: a comparator's verdict latch (one bit per row / column compare)
    SRAM_A = "sram_a"  # a stored bit of the A scratchpad while an operand block is resident (opt-in)
    SRAM_B = "sram_b"  # a stored bit of the B scratchpad while an operand block is resident (opt-in)
    SRAM_C = "sram_c"  # a stored bit of the C scratchpad while an output / partial-sum word is resident (opt-in)
    DRAIN = "drain"  # an accumulator drain register, PE accumulator -> SRAM C after the check (opt-in)
    CHK_ENC = "chk_enc"  # checksum hardware: an operand encoder word, e^T A or B e, per K step (opt-in)

    @property
    def in_pe(self) -> bool:
        """Whether this is a register of a PE of the array (else a word of the checksum hardware)."""
        return self in (Site.ACC, Site.MULT, Site.A_REG, Site.B_REG)

    @property
    def in_sram(self) -> bool:
        """Whether this is a bit of a scratchpad (faults.sram_faults, faults.output_faults; not in the default set)."""
        return self in (Site.SRAM_A, Site.SRAM_B, Site.SRAM_C)

    @property
    def in_checksum(self) -> bool:
        """Whether this is a word of the checksum hardware (faults.checksum_faults)."""
        return self in (Site.CHK_PRED, Site.CHK_SUM, Site.CHK_CMP, Site.CHK_ENC)

    @property
    def opt_in(self) -> bool:
        """Whether a run injects this site only when asked (the scratchpads and the drain path: their bits
        outnumber the PE registers' and would change every default number; the operand encoders, added
        after the default set was fixed, so that every default run keeps its draw)."""
        return self.in_sram or self in (Site.DRAIN, Site.CHK_ENC)

    def word_bits(self, datatype: Datatype) -> int:
        """Width in bits of this site's register word for a datatype."""
        if self is Site.CHK_CMP:
            return 1
        if self in (Site.SRAM_C, Site.DRAIN):  # accumulator-width words: outputs and partial sums
            return datatype.acc_bits
        if self.in_sram:
            return datatype.operand_bits
        if self in (Site.ACC, Site.CHK_PRED, Site.CHK_SUM, Site.CHK_ENC):  # chk_enc: faults.checksum_faults
            return datatype.acc_bits
        if self is Site.MULT:
            return datatype.product_bits
        return datatype.operand_bits


class FaultKind(StrEnum):
    TRANSIENT = "transient"  # one bit flip at one cycle
    PERMANENT = "permanent"  # stuck-at-0/1 on one bit of one PE site for the whole run


class Placement(StrEnum):
    """Where the ABFT checksum hardware sits (DESIGN.md section 3)."""

    IN_ARRAY = "in_array"
    CHECKSUM_PE = "checksum_pe"
    SIDE_UNIT = "side_unit"
