"""Frozen, validated models of the hardware description (hardware YAML schema version 1)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, StrictBool, StrictInt, model_validator

from simulator.config.enums import Dataflow, Datatype, MappingPolicy, Placement

Number = Annotated[float, Strict(), AllowInfNan(False)]  # an int or a float, never a bool or a string
# slowest DRAM channel: transfers are timed with bandwidths as fractions of denominator <= 10**6
# (mapping.region.channel_bandwidth), so 1e-3 bytes/cycle keeps the rounding below 0.1 %
MIN_DRAM_BYTES_PER_CYCLE = 1e-3
_FROZEN = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class _Model(BaseModel):
    model_config = _FROZEN


class ArrayConfig(_Model):
    """The systolic array: geometry, dataflow, datatype and whether folds pipeline."""

    rows: StrictInt = Field(gt=0, le=4096)
    cols: StrictInt = Field(gt=0, le=4096)
    dataflow: Dataflow = Dataflow.OS
    datatype: Datatype = Datatype.INT8
    fold_overlap: StrictBool = True


class SramConfig(_Model):
    """One operand scratchpad (A, B or C), split into `buffers` equal buffers."""

    size_kib: Number = Field(gt=0)
    port_bytes_per_cycle: StrictInt = Field(gt=0)
    buffers: StrictInt = Field(default=2, ge=1, le=2)
    read_energy_pj_per_byte: Number = Field(ge=0)
    write_energy_pj_per_byte: Number = Field(ge=0)
    ecc: Literal["none", "secded"] = "none"  # per-word SEC-DED (faults.ecc); `abftsim reliability`, sites sram_a/b/c
    ecc_data_bits: StrictInt = Field(default=64, ge=8, le=512)  # data bits per ECC word

    @property
    def size_bytes(self) -> int:
        return int(self.size_kib * 1024)

    @property
    def secded_data_bits(self) -> int | None:
        """Data bits per SEC-DED word, None without ECC."""
        return self.ecc_data_bits if self.ecc == "secded" else None

    @property
    def buffer_bytes(self) -> int:
        """Capacity of one buffer: what one tensor can occupy while the other buffer refills."""
        return self.size_bytes // self.buffers


class SramSet(_Model):
    a: SramConfig
    b: SramConfig
    c: SramConfig


class DramConfig(_Model):
    """Off-chip memory channel; give the bandwidth in bytes/cycle or in GB/s, not both."""

    bandwidth_bytes_per_cycle: Number | None = Field(default=None, gt=0)
    bandwidth_gb_per_s: Number | None = Field(default=None, gt=0)
    latency_cycles: StrictInt = Field(ge=0)
    energy_pj_per_byte: Number = Field(ge=0)

    @model_validator(mode="after")
    def _one_bandwidth(self) -> DramConfig:
        given = (self.bandwidth_bytes_per_cycle is not None) + (self.bandwidth_gb_per_s is not None)
        if given != 1:
            raise ValueError("give exactly one of bandwidth_bytes_per_cycle and bandwidth_gb_per_s")
        return self


class MemoryConfig(_Model):
    """SRAM scratchpads and DRAM; `ideal: true` removes every memory stall."""

    ideal: StrictBool = False
    sram: SramSet
    dram: DramConfig


class ChecksumUnitConfig(_Model):
    """ABFT checksum hardware (DESIGN.md section 3)."""

    placement: Placement = Placement.SIDE_UNIT
    adds_per_cycle: StrictInt = Field(default=32, gt=0)  # side_unit lanes
    extra_cycles_per_fold: StrictInt = Field(default=2, ge=0)  # checksum_pe drain adder latency


class MappingConfig(_Model):
    """The mapping step: how each GEMM's folds are ordered over the SRAM buffers."""

    policy: MappingPolicy = MappingPolicy.MIN_DRAM
    # Longest K range one output-stationary fold streams (null: all of K). Each chunk's partial
    # outputs are checked on their own and accumulate through SRAM C (mapping.loop_order).
    k_chunk: StrictInt | None = Field(default=None, ge=1)
    # Whether min_dram may also split K on its own where that moves fewer DRAM bytes (false: only
    # k_chunk splits K, and without it every fold streams all of K, as before K-split orders).
    k_split: StrictBool = True


class RecomputeConfig(_Model):
    max_retries: StrictInt = Field(default=3, ge=0)


class EnergyConfig(_Model):
    """Energy per action in pJ and static power; SRAM/DRAM per-byte energies live with them."""

    mac_pj: Number = Field(ge=0)
    checksum_add_pj: Number = Field(ge=0)
    compare_pj: Number = Field(ge=0)
    leakage_mw: Number = Field(ge=0)


class HwConfig(_Model):
    """A complete accelerator description."""

    schema_version: Literal[1] = 1
    name: str = Field(min_length=1)
    clock_ghz: Number = Field(gt=0)
    array: ArrayConfig
    memory: MemoryConfig
    checksum_unit: ChecksumUnitConfig = ChecksumUnitConfig()
    mapping: MappingConfig = MappingConfig()
    recompute: RecomputeConfig = RecomputeConfig()
    energy: EnergyConfig

    @model_validator(mode="after")
    def _resolvable_bandwidth(self) -> HwConfig:
        if self.dram_bytes_per_cycle < MIN_DRAM_BYTES_PER_CYCLE:
            key = (
                "bandwidth_gb_per_s" if self.memory.dram.bandwidth_gb_per_s is not None else "bandwidth_bytes_per_cycle"
            )
            raise ValueError(
                f"memory.dram.{key}: {self.dram_bytes_per_cycle:.3g} bytes per cycle at clock_ghz {self.clock_ghz:g} "
                f"is below the {MIN_DRAM_BYTES_PER_CYCLE:g} bytes per cycle the model resolves"
            )
        return self

    @property
    def clock_hz(self) -> float:
        return self.clock_ghz * 1e9

    @property
    def dram_bytes_per_cycle(self) -> float:
        dram = self.memory.dram
        if dram.bandwidth_bytes_per_cycle is not None:
            return dram.bandwidth_bytes_per_cycle
        assert dram.bandwidth_gb_per_s is not None
        return dram.bandwidth_gb_per_s * 1e9 / self.clock_hz
