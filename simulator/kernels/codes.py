"""Integer codes the fault kernels read (enums cannot cross into numba); the enum maps are faults.codes."""

from __future__ import annotations

# Dataflows.
OS, WS, IS = 0, 1, 2

# Datatypes (operand word layout).
INT8, FP16, BF16, FP32 = 0, 1, 2, 3

# Sites, in the canonical order used by sampling (the kernels resolve only the PE sites, codes < 4).
ACC, MULT, A_REG, B_REG = 0, 1, 2, 3
# Words of the checksum hardware (faults.checksum_faults resolves them; they never reach a kernel).
CHK_PRED, CHK_SUM, CHK_CMP = 4, 5, 6
# Bits of the A / B scratchpads (faults.sram_faults draws them, verify.sram_effects resolves them).
SRAM_A, SRAM_B = 7, 8
# Bits of the C scratchpad and the accumulator drain registers (faults.output_faults, verify.output_effects).
SRAM_C, DRAIN = 9, 10
# The checksum operand encoders e^T A / B e (faults.checksum_faults, opt-in; code after the existing sites).
CHK_ENC = 11

# How a fault changes its bit: invert it (transient) or force it (permanent stuck-at-0 / -1).
FLIP, STUCK0, STUCK1 = 0, 1, 2

# Columns of the int64 fault table the kernels read (one row per fault).
F_FOLD, F_ROW, F_COL, F_CYCLE, F_SITE, F_BIT, F_MODE = range(7)
FAULT_COLUMNS = 7

# Columns of the int64 fold table (one row per fold, in iter_folds order): block offsets and used
# extents, then the temporal range the fold streams (first step, steps; OS: its K chunk).
T_ROW0, T_COL0, T_RU, T_CU, T_T0, T_TT = range(6)

# Columns of the int64 position table of resolved effects (one row per corrupted element).
P_FOLD_ROW, P_FOLD_COL, P_GEMM_ROW, P_GEMM_COL = range(4)
