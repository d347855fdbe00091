"""The write-back stage: how an accumulator value becomes the stored output (what silent data corruption is judged on).

* int8 arrays requantise the int32 accumulator to an int8 output with a static per-tensor scale:
  stored = clip(round_half_even(acc / step), -127, 127), step = OUTPUT_CLIP_SIGMAS x the clean
  output's RMS / 127 accumulator units per code (the RMS is checksum.output_scale, so code 127
  sits at OUTPUT_CLIP_SIGMAS standard deviations, as a static calibration clips the tails).
* fp16 / bf16 arrays round the fp32 accumulator to the output format (round to nearest even);
  fp32 arrays store the accumulator as it is.

An output is corrupted when its stored value differs from the fault-free stored value. Its
relative error is |stored - clean stored| / max(|clean stored|, the output RMS in stored units),
so near-zero outputs are measured against the typical output magnitude instead of blowing up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Datatype
from simulator.faults.operands import round_bf16

OUTPUT_CLIP_SIGMAS = 6.0
INT8_CODE_MAX = 127


@dataclass(frozen=True, slots=True)
class WriteBack:
    """The write-back of one GEMM instance's outputs."""

    datatype: Datatype
    rms: float  # the clean output's RMS, accumulator units

    @property
    def step(self) -> float:
        """int8: accumulator units per stored code."""
        return OUTPUT_CLIP_SIGMAS * self.rms / INT8_CODE_MAX if self.rms > 0 else 1.0

    def store(self, acc: np.ndarray) -> np.ndarray:
        """Stored values (as float64) of accumulator values."""
        acc = np.asarray(acc, np.float64)
        if self.datatype is Datatype.INT8:
            with np.errstate(invalid="ignore"):
                return np.clip(np.rint(acc / self.step), -INT8_CODE_MAX, INT8_CODE_MAX)
        with np.errstate(over="ignore", invalid="ignore"):
            acc32 = acc.astype(np.float32)
            if self.datatype is Datatype.FP16:
                return acc32.astype(np.float16).astype(np.float64)
            if self.datatype is Datatype.BF16:
                return round_bf16(acc32).astype(np.float64)
        return acc32.astype(np.float64)

    def stored_rms(self) -> float:
        return self.rms / self.step if self.datatype is Datatype.INT8 else self.rms

    def judge(self, clean_acc: np.ndarray, error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(corrupted, relative error) of outputs whose clean accumulator is `clean_acc` and whose
        accumulator carries `error`; NaN or infinite results count as corrupted with an infinite
        relative error."""
        clean = self.store(clean_acc)
        if self.datatype.is_integer:
            faulty = self.store(_wrap_int32(np.rint(clean_acc).astype(np.int64) + error.astype(np.int64)))
        else:
            faulty = self.store(clean_acc + error)
        corrupted = ~(faulty == clean)
        with np.errstate(invalid="ignore", over="ignore"):
            rel = np.abs(faulty - clean) / np.maximum(np.abs(clean), self.stored_rms() or 1.0)
        rel = np.where(np.isfinite(rel), rel, np.inf)
        return corrupted, np.where(corrupted, rel, 0.0)


def _wrap_int32(x: np.ndarray) -> np.ndarray:
    """The accumulator's two's-complement int32 arithmetic."""
    return ((x + 2**31) % 2**32) - 2**31
