"""Integer codes shared by the fault kernels and their callers (enums cannot cross into numba)."""

from __future__ import annotations

from simulator.config.enums import Dataflow, Datatype, Site

# Dataflows.
OS, WS, IS = 0, 1, 2
DATAFLOW_CODE = {Dataflow.OS: OS, Dataflow.WS: WS, Dataflow.IS: IS}

# Datatypes (operand word layout).
INT8, FP16, BF16, FP32 = 0, 1, 2, 3
DATATYPE_CODE = {Datatype.INT8: INT8, Datatype.FP16: FP16, Datatype.BF16: BF16, Datatype.FP32: FP32}

# Sites, in the canonical order used by sampling.
ACC, MULT, A_REG, B_REG = 0, 1, 2, 3
SITE_CODE = {Site.ACC: ACC, Site.MULT: MULT, Site.A_REG: A_REG, Site.B_REG: B_REG}
SITE_OF_CODE = {code: site for site, code in SITE_CODE.items()}
CANONICAL_SITES = (Site.ACC, Site.MULT, Site.A_REG, Site.B_REG)

# How a fault changes its bit: invert it (transient) or force it (permanent stuck-at-0 / -1).
FLIP, STUCK0, STUCK1 = 0, 1, 2

# Columns of the int64 fault table the kernels read (one row per fault).
F_FOLD, F_ROW, F_COL, F_CYCLE, F_SITE, F_BIT, F_MODE = range(7)
FAULT_COLUMNS = 7

# Columns of the int64 fold table (one row per fold, in iter_folds order).
T_ROW0, T_COL0, T_RU, T_CU = range(4)

# Columns of the int64 position table of resolved effects (one row per corrupted element).
P_FOLD_ROW, P_FOLD_COL, P_GEMM_ROW, P_GEMM_COL = range(4)
