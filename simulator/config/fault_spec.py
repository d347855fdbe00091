"""FaultSpec: the validated, frozen description of which PE soft errors a run injects."""

from __future__ import annotations

import functools
import math
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from simulator.config.enums import Datatype, FaultKind, Site
from simulator.workload.gemm import Gemm
from simulator.workload.kinds import GEMM_KINDS

MAX_WORD_BITS = 32  # the widest register word (acc of every datatype, fp32 operands / products)
# the sites an explicit fault can place besides the PE registers (faults.explicit_sites)
EXPLICIT_CHECKSUM_SITES = (Site.CHK_PRED, Site.CHK_SUM, Site.CHK_CMP, Site.CHK_ENC)
EXPLICIT_SRAM_SITES = (Site.SRAM_A, Site.SRAM_B)
EXPLICIT_OUTPUT_SITES = (Site.SRAM_C, Site.DRAIN)  # the output path (faults.explicit_output)


class ExplicitFault(BaseModel):
    """One given fault (`--fault gemm=block0.fc2,instance=0,fold=12,row=3,col=5,cycle=100,site=acc,bit=30`).

    PE registers (acc, mult, a_reg, b_reg):
    * `kind: transient` (default): bit `bit` of PE (`row`, `col`)'s `site` register flips at fold-local
      `cycle` of fold `fold` of instance `instance` of the GEMM named `gemm`, in the first pass (attempt 0);
      the slot must be one where the PE does a MAC (faults.model.PeFault, mapping.dataflow's timing).
    * `kind: stuck0` / `stuck1`: the bit reads 0 / 1 whenever that PE's register is written, in every fold
      of every GEMM the spec selects and in every retry (`gemm`, `instance`, `fold`, `cycle` are not used).
    Checksum hardware (chk_pred, chk_sum, chk_cmp; faults.checksum_faults), transient only: the word of output
    row `row` (a row checksum) or of output column `col` (a column checksum; give exactly one) of fold `fold`'s
    output block, in check block `block` along the other axis (default 0), flips bit `bit` right after its
    operation `step` (default 0: chk_pred's K step, chk_sum's position in its block row / column, chk_cmp 0), in
    the first check of the fold. Policies that check no checksums have no such hardware: nothing is injected.
    Operand encoders (chk_enc; faults.checksum_faults), transient only: `row=R` names the encoder e^T A of R's
    check block row (fold-local output row R) and its add that brings A's row R in (R not the first row of its
    block row), `col=C` the encoder B e of C's check block column and its add that brings B's column C in;
    `step` is the K step (default 0); `block` may be given and must then be R's (C's) block.
    A / B scratchpads (sram_a, sram_b; faults.sram_faults), transient only: bit `bit` of the stored element
    (`row`, `col`) of A (M x K) or B (K x N) flips at `cycle` of the GEMM instance's run (folds back to back
    from cycle 0), or, with `fold`, at `cycle` cycles after fold `fold` starts; the element must be resident
    then. Under SEC-DED `bit` is still the element's bit (the decoder corrects it).
    C scratchpad (sram_c; faults.output_faults), transient only: bit `bit` of the accumulator word that holds
    output element (`row`, `col`) of C (M x N: a partial sum or the output) flips at `cycle` of the instance, or
    `cycle` cycles after fold `fold` starts; the word must be resident then (from its writing fold's end).
    Drain registers (drain), transient only: bit `bit` of the drain word of output element (`row`, `col`) flips
    at drain cycle `step` (default 0; OS drains a column over R cycles, WS / IS in 1) as fold `fold` drains it
    (needed when several K chunks / K folds drain that element, else the one fold that does).
    Explicit faults come on top of the random ones (`ber`, `kind: permanent`) and ignore `sites` and `bits`;
    faults.explicit and faults.explicit_sites check them against the workload and the schedule.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    gemm: str | None = None
    instance: int = Field(0, ge=0)
    fold: int | None = Field(None, ge=0)
    row: int | None = Field(None, ge=0)
    col: int | None = Field(None, ge=0)
    cycle: int | None = Field(None, ge=0)
    site: Site
    bit: int = Field(ge=0, lt=MAX_WORD_BITS)
    kind: Literal["transient", "stuck0", "stuck1"] = "transient"
    block: int | None = Field(None, ge=0)  # checksum sites: the check block along the other axis
    step: int | None = Field(None, ge=0)  # checksum sites: the operation after which the bit flips

    @model_validator(mode="after")
    def _placed(self) -> ExplicitFault:
        if self.site.in_pe:
            return self._pe_placed()
        if self.site not in EXPLICIT_CHECKSUM_SITES + EXPLICIT_SRAM_SITES + EXPLICIT_OUTPUT_SITES:
            placed = ", ".join(str(s) for s in (*EXPLICIT_CHECKSUM_SITES, *EXPLICIT_SRAM_SITES, *EXPLICIT_OUTPUT_SITES))
            raise ValueError(f"site: an explicit fault places a PE register or one of {placed}, not {self.site}")
        if self.kind != "transient":
            raise ValueError(
                f"kind: a {self.site} fault is transient (stuck-at bits are PE registers), not {self.kind}"
            )
        checksum = self.site in EXPLICIT_CHECKSUM_SITES
        drain = self.site is Site.DRAIN
        needed = ("gemm", "fold") if checksum else ("gemm", "row", "col") if drain else ("gemm", "row", "col", "cycle")
        _require(self, needed, f"a {self.site} fault")
        if drain:
            _forbid(self, ("cycle", "block"), f"a {self.site} fault (its time is step=S, the drain cycle)")
        elif checksum:
            if (self.row is None) == (self.col is None):
                raise ValueError(f"a {self.site} fault needs row=R (a row checksum word) or col=C (a column one)")
            _forbid(self, ("cycle",), f"a {self.site} fault (its time is step=S, the word's operation)")
        else:
            _forbid(self, ("block", "step"), f"a {self.site} fault")
        return self

    def _pe_placed(self) -> ExplicitFault:
        _require(self, ("row", "col"), "a PE fault")
        _forbid(self, ("block", "step"), "a PE fault")
        transient = self.kind == "transient"
        if transient:
            _require(self, ("gemm", "fold", "cycle"), "a transient fault")
        extra = [k for k in ("gemm", "fold", "cycle") if getattr(self, k) is not None]
        if not transient and (extra or self.instance):
            raise ValueError(f"a stuck-at fault holds for the whole run: drop {', '.join(extra or ['instance'])}")
        return self

    @model_serializer(mode="wrap")
    def _without_unused(self, handler: SerializerFunctionWrapHandler) -> dict:
        """Dumps leave out the coordinates a site does not use (a PE fault serialises as before)."""
        data = handler(self)
        for key in ("row", "col", "block", "step"):
            if data.get(key) is None:
                data.pop(key, None)
        return data

    @classmethod
    def parse(cls, text: str) -> ExplicitFault:
        """From `key=value,key=value,...` (the command-line form); ValueError on a malformed pair."""
        return cls.model_validate(explicit_fields(text))


def _require(fault: ExplicitFault, keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if getattr(fault, k) is None]
    if missing:
        raise ValueError(f"{what} needs {', '.join(missing)}")


def _forbid(fault: ExplicitFault, keys: tuple[str, ...], what: str) -> None:
    extra = [k for k in keys if getattr(fault, k) is not None]
    if extra:
        raise ValueError(f"{what} has no {', '.join(extra)}")


def explicit_fields(text: str) -> dict[str, str]:
    """`key=value,key=value,...` as a dict (values still text); ValueError on a malformed pair."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"expected key=value pairs separated by commas, got {part!r}")
        fields[key.strip()] = value.strip()
    return fields


class FaultSpec(BaseModel):
    """Which faults to inject (DESIGN.md section 4).

    * `ber`: probability that one bit of a site's register word flips per MAC operation
      (transient faults only). Flips per fold and site ~ Poisson(active MACs x exposed bits x ber).
    * `sites`: the registers that can be hit (order irrelevant): PE registers acc, mult, a_reg, b_reg, and
      the checksum hardware's words chk_pred, chk_sum, chk_cmp and its operand encoders chk_enc
      (faults.checksum_faults; they exist only for policies that check checksums), the A / B / C
      scratchpads' stored bits sram_a, sram_b, sram_c (faults.sram_faults, faults.output_faults; rate per
      bit per cycle of residency) and the accumulator drain registers drain (faults.output_faults; per bit
      per cycle an output spends in the drain path).
      Default: all but the SRAM, drain and chk_enc sites (SRAM bits outnumber PE bits by orders of magnitude
      and would change every headline number; chk_enc came after the default set was fixed; opt in).
    * `kind`: `transient` (Poisson flips at rate `ber`) or `permanent` (`permanent_count` stuck-at
      bits placed once per run; `ber` is then unused).
    * `stuck_value`: the value a permanent fault's bit reads (0 or 1).
    * `permanent_count`: how many distinct stuck-at bits to place (kind = permanent). Each sits on a
      uniformly chosen PE of the whole array and a uniformly chosen exposed bit of the selected
      sites (so a site is chosen in proportion to its exposed bits, as for transients).
    * `bits`: inclusive bit range (lo, hi) that faults may hit; bits outside it are not exposed.
      A site's exposed bits are its word's bits within the range (fewer for narrow words); a range
      that leaves no selected site any bit is an error when the datatype is known (site_bits).
    * `gemms` / `kinds`: inject only into GEMMs with these names / kinds (both must match if both
      are given); None means all.
    * `seed`: root of every random draw (see faults.sampling for the keying).
    * `explicit`: given faults (ExplicitFault), injected on top of the random ones.
    * `mbu_fraction`: the fraction of transient upsets that flip 2 to `mbu_max_bits` adjacent bits of
      one word (a multi-bit upset, width uniform over 2..`mbu_max_bits`) instead of one (faults.mbu).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ber: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False)
    sites: tuple[Site, ...] = tuple(s for s in Site if not s.opt_in)  # the SRAM and drain sites are opt-in
    kind: FaultKind = FaultKind.TRANSIENT
    stuck_value: Literal[0, 1] = 1
    permanent_count: int = Field(1, ge=1)
    bits: tuple[int, int] | None = None
    gemms: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    seed: int = Field(0, ge=0)
    explicit: tuple[ExplicitFault, ...] = ()
    mbu_fraction: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False)
    mbu_max_bits: int = Field(4, ge=2, le=8)

    @field_validator("ber", "permanent_count", "seed", "stuck_value", "mbu_fraction", "mbu_max_bits", mode="before")
    @classmethod
    def _no_bool(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("must be a number, not a boolean")
        return value

    @field_validator("ber", mode="after")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"must be a finite probability in [0, 1], got {value}")
        return value

    @field_validator("sites", "gemms", "kinds", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        """Accept `acc,mult` (CLI style) as well as a list."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("sites", mode="after")
    @classmethod
    def _sites_ok(cls, value: tuple[Site, ...]) -> tuple[Site, ...]:
        if not value:
            raise ValueError(f"must name at least one site ({', '.join(Site)})")
        if len(set(value)) != len(value):
            raise ValueError(f"lists a site twice: {[str(s) for s in value]}")
        return value

    @field_validator("bits", mode="after")
    @classmethod
    def _bits_ok(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is None:
            return None
        lo, hi = value
        if not (0 <= lo <= hi < MAX_WORD_BITS):
            raise ValueError(f"must be [lo, hi] with 0 <= lo <= hi <= {MAX_WORD_BITS - 1}, got [{lo}, {hi}]")
        return value

    @field_validator("gemms", mode="after")
    @classmethod
    def _gemms_ok(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("must name at least one GEMM (or be omitted)")
        return value

    @field_validator("kinds", mode="after")
    @classmethod
    def _kinds_ok(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must name at least one GEMM kind (or be omitted)")
        unknown = [k for k in value if k not in GEMM_KINDS]
        if unknown:
            raise ValueError(f"unknown GEMM kind {unknown[0]!r}; expected one of {', '.join(GEMM_KINDS)}")
        return value

    @model_validator(mode="after")
    def _stuck_at_in_pe(self) -> FaultSpec:
        if self.kind is FaultKind.PERMANENT and not any(s.in_pe for s in self.sites):
            raise ValueError("stuck-at faults hit PE registers (acc, mult, a_reg, b_reg), not the checksum sites")
        return self

    @model_serializer(mode="wrap")
    def _without_empty_explicit(self, handler: SerializerFunctionWrapHandler) -> dict:
        """Dumps (reports, sweep config hashes) list `explicit` only when there are explicit faults and the
        multi-bit upset fields only when upsets can be multi-bit, so specs without them serialise as before."""
        data = handler(self)
        if not self.explicit:
            data.pop("explicit", None)
        if not self.mbu_fraction:
            data.pop("mbu_fraction", None)
            data.pop("mbu_max_bits", None)
        return data

    @property
    def injects(self) -> bool:
        """Whether this spec injects anything: stuck-at bits, or transients at a nonzero rate."""
        return self.kind is FaultKind.PERMANENT or self.ber > 0 or bool(self.explicit)

    def selects(self, gemm: Gemm) -> bool:
        """Whether faults are injected into this GEMM (name and kind restrictions)."""
        if self.gemms is not None and gemm.name not in self.gemms:
            return False
        return self.kinds is None or gemm.kind in self.kinds

    def site_bits(self, site: Site, datatype: Datatype) -> tuple[int, int]:
        """(first bit, number of exposed bits) of a site's word; raises if no selected site has any.
        (Memoised per (sites, bits, site, datatype): the sampler asks once per GEMM instance.)"""
        return exposed_bits(self.sites, self.bits, site, datatype)


@functools.lru_cache(maxsize=512)
def exposed_bits(
    sites: tuple[Site, ...], bits: tuple[int, int] | None, site: Site, datatype: Datatype
) -> tuple[int, int]:
    """FaultSpec.site_bits of a spec selecting `sites` with bit window `bits` (a pure function of
    them, memoised; a ValueError is raised again on every call)."""
    if all(_bit_window(bits, s, datatype)[1] == 0 for s in sites):
        lo, hi = bits if bits is not None else (0, 0)
        widths = ", ".join(f"{s} {s.word_bits(datatype)}" for s in sites)
        raise ValueError(f"faults.bits [{lo}, {hi}] leaves no bit of the selected {datatype} words ({widths} bits)")
    return _bit_window(bits, site, datatype)


def _bit_window(bits: tuple[int, int] | None, site: Site, datatype: Datatype) -> tuple[int, int]:
    width = site.word_bits(datatype)
    lo, hi = bits if bits is not None else (0, width - 1)
    return lo, max(0, min(hi, width - 1) - lo + 1)
