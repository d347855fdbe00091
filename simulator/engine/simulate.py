"""`simulate`, the engine's entry point, and its SimPy model: array, verdicts, recompute queue.

Processes and resources (DESIGN.md sections 2, 3):

* The array process walks the folds in schedule order, layer by layer. Layers are serial: a
  ViT's GEMMs depend on each other, so layer L+1's first fold issues only when every result of
  layer L is final (checked, recomputed if need be). Its loads are not held back: they are
  prefetched into free buffers while layer L finishes, and layer L's write-backs drain on the
  channel while layer L+1 runs (the last layer waits for its own); what L+1's array waits
  because its loads queued behind them is L+1's write-back stall, not its memory stall (array.py).
* A verdict event per reported fold attempt fires when the attempt's check completes and
  replays the verdict of that attempt (the verifier's retry loop decided every attempt of the
  fold, abft.retry: verdicts depend on faults and policy, never on time); a recompute goes to the recompute queue,
  which the array serves before any normal fold: a recompute decided at cycle t is issued before
  a fold that could issue at t (the array arbitrates at the end of each cycle, after verdicts).
  An array waiting for the next verdict cycle resumes from the last verdict event of that cycle
  (after its callback), which is the end of that cycle's events: no wake-up event of its own.
* The DRAM channel and the side unit serve in a fixed order (channel.py, checksum_unit.py), so
  they are analytic servers whose timing is computed when work is handed to them.

With `coalesce=True`, stretches of folds with no verdict outstanding are timed without an event
per fold, and repeats are skipped (coalesce.py); flagged folds whose first verdict asks for no
recomputation are timed with them (plan.py, "Settled verdicts"); a fold or recompute pass with no
verdict due by its start is issued ahead of the clock (nothing else can happen before it starts).
`coalesce=False` issues every fold and pass at its start by an event of its own and reaches every
verdict by an event. Both give identical results.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, fields
from itertools import count
from typing import Any

import simpy
from simpy.events import NORMAL, Event, EventPriority

from simulator.abft.protocol import (
    Action,
    CheckWork,
    FoldAttempts,
    NoFaults,
    Policy,
    TileVerifier,
)
from simulator.config.schema import HwConfig
from simulator.engine.array import ArrayPass, Sequencer
from simulator.engine.checksum_unit import array_check_cycles, check_counts, duplicate_counts, side_unit_cycles
from simulator.engine.coalesce import FoldStream, request_loads_due_before, time_run
from simulator.engine.plan import LayerPlan, Segment, build_plan, fold_at
from simulator.engine.records import LayerCycles
from simulator.engine.result import EngineResult, FoldOutcome, LayerResult, RecomputeStats
from simulator.mapping.region import Region, Scope, price_region, resolve_region
from simulator.mapping.schedule import GemmSchedule
from simulator.mapping.tiling import Fold
from simulator.metrics.actions import ActionCounts

LATE = EventPriority(2)  # after every URGENT and NORMAL event of the same cycle
# enum members read once per verdict: module constants skip the enum class's attribute lookup
_RECOMPUTE, _CORRECT, _GEMM = Action.RECOMPUTE, Action.CORRECT, Scope.GEMM
Wait = Generator[Event, Any, None]


class LateTimeout(Event):
    """A timeout processed after every ordinary event of its cycle.

    Initialised like simpy.Timeout (which inlines Event.__init__ the same way), but scheduled
    with a lower priority than NORMAL, so the array acts after the cycle's verdicts.
    """

    def __init__(self, env: simpy.Environment, delay: float):  # SimPy's time type; cycles here
        self.env = env
        self.callbacks = []
        self._value = None
        self._ok = True
        env.schedule(self, LATE, delay)


class Verdict(Event):
    """The check of one fold attempt completes at its cycle: its verdict is reached then.

    Initialised like LateTimeout, at NORMAL priority, with the engine's callback and what it
    needs (the job and its (cycle, serial) in the due heap) on the event itself: no closure.
    """

    def __init__(
        self,
        env: simpy.Environment,
        delay: float,
        reach: Callable[[Event], None],
        job: _Job,
        due: tuple[int, int],
    ):
        self.env = env
        self.callbacks = [reach]
        self._value = None
        self._ok = True
        self.job, self.due = job, due
        env.schedule(self, NORMAL, delay)


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes."""

    def __init__(self) -> None:
        super().__init__()
        self.processed = 0

    def step(self) -> None:
        self.processed += 1
        super().step()


@dataclass(eq=False)
class _Job:
    """A fold whose attempts the verifier reports on."""

    plan: LayerPlan
    seg: Segment
    fold: Fold
    attempt: int = 0
    region: Region | None = None
    history: FoldAttempts | None = None


@dataclass(frozen=True, slots=True)
class _PassPrice:
    """What a recompute pass of one (fold, region) costs, checking included (its timing fields)."""

    fold_cycles: int
    window_cycles: int
    side_unit_cycles: int
    counts: ActionCounts
    load_bytes: int
    streams_load: bool


@dataclass
class _LayerTally:
    passes: int = 0
    corrections: int = 0
    given_up: int = 0


class EngineModel:
    """One engine run (see module docstring); build it, then call `run()` once."""

    def __init__(
        self,
        hw: HwConfig,
        plans: Sequence[LayerPlan],
        policy: Policy,
        verifier: TileVerifier,
        coalesce: bool,
        trace: bool,
        trace_window: tuple[float, float] | None = None,
    ):
        self.hw, self.plans, self.policy, self.verifier = hw, plans, policy, verifier
        self.coalesce, self.trace = coalesce, trace
        self.trace_window = trace_window if trace else None
        self.env = CountingEnvironment()
        self.seq = Sequencer(hw, trace)
        self.stream = FoldStream(plans)
        self.queue: deque[tuple[_Job, ArrayPass]] = deque()  # recompute requests, FIFO
        self.due: list[tuple[int, int]] = []  # (cycle, serial) of verdicts not yet reached
        self.last_verdict: dict[int, Verdict] = {}  # cycle -> the latest verdict expected then, not reached
        self.serial = count()
        self.outcomes: list[FoldOutcome] = []
        self.layers: list[LayerResult] = []
        self.tally = _LayerTally()
        self.scopes: dict[Scope, int] = {}  # recompute passes by region scope
        self.pass_prices: dict[tuple, _PassPrice] = {}
        self.max_retries = hw.recompute.max_retries

    def run(self) -> EngineResult:
        self.env.process(self._array())
        self.env.run()
        actions = sum((layer.actions for layer in self.layers), ActionCounts())
        total = self.layers[-1].cycles.end_cycle
        stats = RecomputeStats(
            passes=sum(layer.recompute_passes for layer in self.layers),
            passes_by_scope=dict(sorted((scope.value, n) for scope, n in self.scopes.items())),
            corrections=sum(layer.corrections for layer in self.layers),
            given_up=sum(layer.given_up for layer in self.layers),
            recomputed_macs=actions.recomputed_macs,
            recompute_cycles=sum(layer.recompute_cycles for layer in self.layers),
        )
        records = tuple(self.seq.records) if self.seq.records is not None else None
        return EngineResult(
            total_cycles=total,
            layers=tuple(self.layers),
            actions=actions,
            recompute=stats,
            outcomes=tuple(sorted(self.outcomes, key=lambda o: (o.layer, o.instance, o.fold))),
            folds=self.stream.end,
            events_processed=self.env.processed,
            skipped_folds=self.seq.skipped,
            records=records,
        )

    # -- the array process ---------------------------------------------------------------------
    def _array(self) -> Wait:
        start = 0
        for plan in self.plans:
            self.seq.start_layer(plan.index, start)
            self.tally = _LayerTally()
            segments, i, k = plan.segments, 0, 0
            while i < len(segments):
                seg = segments[i]
                if k == seg.length:
                    i, k = i + 1, 0
                    continue
                if self.coalesce and not seg.flagged and not self.queue and not self.due:
                    stop = i
                    while stop < len(segments) and not segments[stop].flagged:
                        stop += 1
                    time_run(self.seq, self.stream, segments, i, k, stop, skip=True, window=self.trace_window)
                    wait = self._until(self.seq.last_start)
                    if wait is not None:
                        yield wait
                    i, k = stop, 0
                    continue
                while (wait := self._issue(plan, seg, k)) is not None:
                    yield wait
                k += 1
            while self.queue or self.due:
                wait = self._serve_recompute() if self.queue else self._next_verdict_event()
                if wait is not None:
                    yield wait
            self._settled_outcomes()
            start = self.seq.end_layer(drain_stores=plan is self.plans[-1])
            self.layers.append(self._layer_result(plan, start))

    def _until(self, cycle: int) -> Event | None:
        """What to wait for to act at the end of the events of `cycle` (None if that is now)."""
        delay = cycle - self.env.now
        return LateTimeout(self.env, delay) if delay > 0 else None

    def _next_verdict_event(self) -> Verdict:
        """The event after which every verdict of the next verdict cycle has been reached: the
        last one of that cycle (its callbacks run after the verdict's), so the array acts after
        the cycle's verdicts, as `_until` would, with no event of its own."""
        cycle = self.due[0][0]
        assert cycle > self.env.now, "a verdict of this cycle was not reached before the array's turn"
        return self.last_verdict[cycle]

    def _next_verdict(self) -> float:
        return self.due[0][0] if self.due else float("inf")

    def _issue(self, plan: LayerPlan, seg: Segment, k: int) -> Event | None:
        """Issue fold k of `seg` unless something comes first: a recompute to serve, or a verdict
        due first (it may queue one, or post a store its load must follow). Returns None once the
        fold is issued, else what to wait for before trying again (nothing that happens while
        waiting changes the cycle the fold issues at, so trying again gives the same answer)."""
        while self.queue:
            wait = self._serve_recompute()
            if wait is not None:
                return wait
        seq, cost = self.seq, seg.cost
        ordinal = seg.ordinal + k
        ready = seq.ready_cycle(ordinal, cost)
        if ready is None:  # request the load once every store it may have to follow is known
            assert seq.dma is not None
            key = seq.dma.key(ordinal, cost, self._next_verdict())
            if key is None:  # it follows a store a verdict (or the recompute it asks for) will post
                assert self.due, "a load can only wait for a verdict"
                return self._next_verdict_event()
            tag = (seg.layer, seg.instance, seg.first_fold + k) if self.trace else None
            ready = seq.dma.request(ordinal, cost, key, seg.layer, tag)
        start = seq.fold_start(cost, ready)
        if self._next_verdict() <= start:  # a verdict due first may queue a recompute
            return self._next_verdict_event()
        if not self.coalesce:  # else issued now, ahead of the clock: nothing but verdicts (all
            wait = self._until(start)  # due after `start`) happens in between
            if wait is not None:
                return wait
        checked = seq.issue_fold(seg, k, start, ready)
        if seg.flagged:
            fold = seg.fold if seg.fold is not None else fold_at(plan.schedule, seg.first_fold + k)
            self._expect_verdict(_Job(plan, seg, fold, history=seg.attempts), checked)
        return None

    def _serve_recompute(self) -> Event | None:
        """Issue the queued recompute pass at its start; before that, what to wait for (verdicts
        meanwhile only queue behind it and cannot move its start)."""
        job, recompute = self.queue[0]
        start = self.seq.pass_start(recompute)
        # coalesced: with no verdict due by its start, nothing happens before it, so it is issued
        # now, ahead of the clock, as a fold is (`_issue`)
        if not self.coalesce or self._next_verdict() <= start:
            wait = self._until(start)
            if wait is not None:
                return wait
        self.queue.popleft()
        self._expect_verdict(job, self.seq.issue_pass(recompute, start))
        return None

    # -- verdicts ------------------------------------------------------------------------------
    def _expect_verdict(self, job: _Job, at: int) -> None:
        """Reach the verdict at cycle `at`: one event whose callback replays it (a verdict never
        waits for anything else, so it needs no process of its own)."""
        due, env = (at, next(self.serial)), self.env
        heapq.heappush(self.due, due)
        self.last_verdict[at] = Verdict(env, at - env.now, self._reach, job, due)

    def _reach(self, event: Event) -> None:
        """Replay the verdict `event` (a Verdict) stands for, at its cycle."""
        assert isinstance(event, Verdict)
        job, due = event.job, event.due
        now = due[0]
        if self.last_verdict.get(now) is event:
            del self.last_verdict[now]
        reached = heapq.heappop(self.due)
        assert reached == due, "verdicts of one cycle are reached in the order they were expected"
        if job.history is None:  # verdicts never depend on time: the verifier's retry loop gave them all
            schedule = job.plan.schedule
            job.history = self.verifier.attempts(
                job.seg.layer, job.seg.instance, job.fold, lambda fold, r: resolve_region(self.hw, schedule, fold, r)
            )
        history, attempt, seq, tally = job.history, job.attempt, self.seq, self.tally
        decision = history.decisions[attempt]
        action = decision.action
        seq.decided(now)
        if action is _RECOMPUTE and attempt < self.max_retries:
            assert decision.region is not None
            region = resolve_region(self.hw, job.plan.schedule, job.fold, decision.region)
            job.attempt, job.region = attempt + 1, region
            self.queue.append((job, self._recompute_pass(job, now)))
            tally.passes += 1
            scopes = self.scopes
            scopes[region.scope] = scopes.get(region.scope, 0) + 1
            return
        given_up = action is _RECOMPUTE
        tally.given_up += given_up
        tally.corrections += action is _CORRECT
        seg, fold_index, attempts = job.seg, job.fold.index, attempt + 1
        k = fold_index - seg.first_fold
        seq.finalize(seg.ordinal + k, seg.cost, now, seg, k)
        checks, decisions = history.checks[:attempts], history.decisions[:attempts]
        self.outcomes.append(FoldOutcome(seg.layer, seg.instance, fold_index, checks, decisions, now, given_up))

    def _settled_outcomes(self) -> None:
        """Outcomes of this layer's settled folds (plan.Segment.settled): each is final when its
        check completed, with its first verdict; no event was needed to reach it."""
        for seg, fold, history, at in self.seq.settled:
            check, decision = history.checks[0], history.decisions[0]
            given_up = decision.action is Action.RECOMPUTE  # only with recompute.max_retries = 0
            self.tally.given_up += given_up
            self.tally.corrections += decision.action is Action.CORRECT
            self.outcomes.append(FoldOutcome(seg.layer, seg.instance, fold, (check,), (decision,), at, given_up))
        self.seq.settled.clear()

    def _recompute_pass(self, job: _Job, now: int) -> ArrayPass:
        assert job.region is not None
        gemm_scope = job.region.scope is _GEMM
        # a fold is often recomputed more than once, and layers of one shape (and count) share their
        # folds and fold costs: price each (shape, fold, region) once; a GEMM pass reruns any
        # instance's folds, which cost the same in every instance (plan.build_plan)
        plan = job.plan
        key = (plan.shape, plan.schedule.gemm.count, -1 if gemm_scope else job.fold.index, job.region)
        price = self.pass_prices.get(key)
        if price is None:
            schedule, unit = job.plan.schedule, self.hw.checksum_unit
            priced = price_region(self.hw, schedule, job.fold, job.region)
            # a GEMM pass rechecks every fold; a region pass its fold (the plan asked the policy for it)
            work = _instance_check_work(job.plan, job.seg.instance) if gemm_scope else job.seg.cost.check_work
            on_array = array_check_cycles(unit, work)
            price = self.pass_prices[key] = _PassPrice(
                priced.fold_cycles + on_array,
                priced.window_cycles + on_array,
                side_unit_cycles(unit, work),
                priced.counts + duplicate_counts(work, priced.counts) + check_counts(work),
                priced.load_bytes,
                priced.streams_load,
            )
        tag = (job.seg.layer, job.seg.instance, job.fold.index, job.attempt)
        if price.load_bytes:  # the refetch queues behind every load the DMA asked for before now
            request_loads_due_before(self.seq, self.stream, now)
        return ArrayPass(
            price.fold_cycles,
            price.window_cycles,
            price.side_unit_cycles,
            price.counts,
            now,
            tag,
            self.seq.request_refetch(now, price.load_bytes, tag),
            price.streams_load,
        )

    def _layer_result(self, plan: LayerPlan, end: int) -> LayerResult:
        seq, s = self.seq, plan.schedule
        compute = s.compute_cycles + plan.array_check_cycles
        total = end - seq.layer_start
        recompute = total - compute - seq.memory_stall - seq.checksum_stall - seq.writeback_stall
        cycles = LayerCycles(
            seq.layer_start, end, compute, seq.memory_stall, seq.checksum_stall, recompute, seq.writeback_stall
        )
        actions = plan.counts + seq.extra_counts + ActionCounts(cycles=total)
        t = self.tally
        return LayerResult(
            plan.index, s.gemm.name, s.gemm.kind, plan.folds, cycles, actions, t.passes, t.corrections, t.given_up
        )


def _instance_check_work(plan: LayerPlan, instance: int) -> CheckWork:
    """Checking work of every fold of one instance (a GEMM-scope recompute rechecks them all)."""
    totals = dict.fromkeys((f.name for f in fields(CheckWork) if f.name != "duplicate_passes"), 0)
    copies = 0  # copies of the whole rerun, not a sum over its folds
    for seg in plan.segments:
        if seg.instance == instance:
            copies = max(copies, seg.cost.check_work.duplicate_passes)
            for name in totals:
                totals[name] += getattr(seg.cost.check_work, name) * seg.length
    return CheckWork(**totals, duplicate_passes=copies)


def simulate(
    hw: HwConfig,
    schedules: Sequence[GemmSchedule],
    policy: Policy,
    verifier: TileVerifier | None = None,
    *,
    trace: bool = False,
    coalesce: bool = True,
    trace_window: tuple[float, float] | None = None,
) -> EngineResult:
    """Run the GEMM schedules in order on `hw` under `policy`; faults come from `verifier`.

    `trace=True` keeps the trace records (records.TraceRecord) in the result: one span per pass
    or transfer, and one coalesced span per run of identical folds timed as repeats; inside
    `trace_window` (cycles, inclusive) every fold gets its own spans. `coalesce=False` gives
    every fold its own SimPy event and spans (slower, identical results).
    """
    if not schedules:
        raise ValueError("nothing to simulate: no GEMM schedules")
    verifier = verifier if verifier is not None else NoFaults()
    plans = build_plan(hw, schedules, policy, verifier, settle=coalesce)
    return EngineModel(hw, plans, policy, verifier, coalesce, trace, trace_window).run()
