"""SimPy engine: DMA, double-buffered SRAM, systolic array, checksum unit, recompute queue, trace."""

from simulator.engine.chrome_trace import chrome_trace
from simulator.engine.records import LayerCycles, RecordKind, TraceRecord, Track, layer_cycles
from simulator.engine.result import EngineResult, FoldOutcome, LayerResult, RecomputeStats
from simulator.engine.simulate import simulate

__all__ = [
    "EngineResult",
    "FoldOutcome",
    "LayerCycles",
    "LayerResult",
    "RecomputeStats",
    "RecordKind",
    "TraceRecord",
    "Track",
    "chrome_trace",
    "layer_cycles",
    "simulate",
]
