"""The DMA's load side: when each fold's operands are requested, into which SRAM buffer.

Rules (DESIGN.md section 3, "a tile cannot start before its operands are in SRAM"):

* Each operand scratchpad (A, B) has `buffers` buffers. A fold that loads an operand needs a
  free buffer: the buffer whose data is oldest is released when the last fold reading that data
  has passed its issue window (the array then streams the next fold's data; without fold
  overlap the window is the whole fold). Folds that reuse resident data load nothing; the
  blocks of a tensor that stays whole in one buffer (plan.FoldCost.a_joins) share that buffer.
* Prefetch distance: fold m's operands are requested no earlier than the issue of fold
  m - buffers (the DMA command queue holds `buffers` folds of lookahead), and in fold order.
  With 2 buffers a fold's load overlaps the previous fold's compute; with 1 it cannot.
* Spilled partial sums (WS/IS when they do not fit SRAM C) are reloaded only after the previous
  fold's spill store has crossed the channel (read after write through DRAM).
* A recompute's refetch decided at cycle t queues behind every load requested before t: a
  fold's load is requested as soon as its buffer and lookahead allow, whether or not the array
  has reached the fold (the next layer's first folds included, while a layer waits for its last
  verdicts; coalesce.request_loads_due_before), and ahead of every load requested at t or later
  (a cycle's verdicts come before the array's and the DMA's actions of that cycle).

The request cycle of fold m's load is `key`; the channel orders transfers by it.
"""

from __future__ import annotations

from collections import deque

from simulator.config.schema import SramSet
from simulator.engine.channel import Behind, DramChannel, Tag, clip_spans
from simulator.engine.plan import FoldCost

_OPEN = -1  # release cycle of a buffer whose data is still being read


class OperandBuffers:
    """The buffers of one operand scratchpad: which fold loaded each, and when it frees up."""

    def __init__(self, count: int):
        self.count = count
        self.entries: list[list[int]] = []  # [loading fold ordinal, release cycle, last reader], oldest first

    def use(self, ordinal: int, window_end: int) -> None:
        """Fold `ordinal` reads the newest data loaded at or before it until `window_end`."""
        entries = self.entries
        if entries and entries[-1][0] <= ordinal:  # the newest (the usual case)
            entry = entries[-1]
            entry[1], entry[2] = window_end, ordinal
            return
        for entry in reversed(entries):
            if entry[0] <= ordinal:
                entry[1], entry[2] = window_end, ordinal
                return

    def eviction_release(self, ordinal: int, issued: int) -> int | None:
        """Cycle the buffer for fold `ordinal`'s load frees up; None while it is not yet known."""
        if len(self.entries) < self.count:
            return 0
        victim = self.entries[-self.count]
        next_load = self.entries[-self.count + 1][0] if self.count > 1 else ordinal
        if next_load - 1 >= issued:  # the victim's last reader has not been issued yet
            return None
        return victim[1]

    def add(self, ordinal: int) -> None:
        self.entries.append([ordinal, _OPEN, ordinal])
        if len(self.entries) > self.count:
            del self.entries[0]

    def state_key(self, now: int, ordinal: int, lo: int, hi: int, floor: int | None = None) -> tuple:
        # A loading ordinal below `ordinal` (the next fold to issue) acts the same whatever its
        # value: `use` finds it for every later fold and `eviction_release` sees it issued. So a
        # block held for a whole GEMM (a resident operand) does not keep the key from repeating.
        # A buffer released at or before `floor` (a cycle every later load's request is at or
        # after, Dma.state_key) no longer delays anything: which fold read it last does not matter.
        key = []
        for first, release, reader in self.entries:
            gone = floor is not None and _OPEN != release <= floor
            if lo <= first < hi:
                key.append((first - ordinal if first >= ordinal else "past", "released" if gone else reader - ordinal))
            else:
                key.append(("old", "released" if gone else (reader - ordinal if lo <= reader < hi else "old")))
        return tuple(key)

    def shift(self, cycles: int, ordinals: int, lo: int, hi: int) -> None:
        for e in self.entries:
            if lo <= e[2] < hi:
                e[1] += cycles if e[1] != _OPEN else 0
                e[2] += ordinals
            if lo <= e[0] < hi:
                e[0] += ordinals


class Dma:
    """Requests every fold's load on the channel, in fold order, once its buffer and lookahead allow."""

    def __init__(self, sram: SramSet, channel: DramChannel):
        self.channel = channel
        self.a, self.b = OperandBuffers(sram.a.buffers), OperandBuffers(sram.b.buffers)
        self.depth = max(sram.a.buffers, sram.b.buffers)
        self.starts: deque[int] = deque(maxlen=self.depth)  # issue cycles of the latest folds
        self.issued = 0  # folds issued so far (ordinals below it)
        self.last_key = 0  # request cycle of the latest load
        self.next_ordinal = 0  # loads of folds below it have been requested
        self.ready: dict[int, int] = {}  # requested, not yet issued: ordinal -> cycle the data is in SRAM
        self.behind: dict[int, Behind] = {}  # requested, not yet issued: earlier layers' write-back ahead
        # the latest `key` that returned None waits for fold `unblocks_at - 1` to issue (0: for
        # something else), and a prefetch that found fold `blocked[0]` waiting so (coalesce.py)
        self.unblocks_at = 0
        self.blocked: tuple[int, int] | None = None
        # per fold cost (FoldCost compares by identity): the (buffers, joins) of the operands it loads,
        # so `key` looks at those only (it runs for most folds; the pairs follow from the cost alone)
        self._loading: dict[FoldCost, tuple[tuple[OperandBuffers, bool], ...]] = {}

    def _loaded(self, cost: FoldCost) -> tuple[tuple[OperandBuffers, bool], ...]:
        pairs = self._loading.get(cost)
        if pairs is None:
            both = ((self.a, cost.loads_a, cost.a_joins), (self.b, cost.loads_b, cost.b_joins))
            pairs = self._loading[cost] = tuple((buf, joins) for buf, loads, joins in both if loads)
        return pairs

    def key(self, ordinal: int, cost: FoldCost, settled_before: float) -> int | None:
        """Request cycle of fold `ordinal`'s load, or None if it depends on what is not known yet.

        `settled_before`: every store requested before this cycle has been posted to the channel
        (later decisions may still post some); the load must not be requested past it.
        """
        key, issued = self.last_key, self.issued
        for buf, joins in self._loaded(cost):
            back = ordinal - buf.count
            if back >= 0:
                if back >= issued:
                    self.unblocks_at = back + 1
                    return None
                start = self.starts[back - issued + len(self.starts)]
                if start > key:
                    key = start
            if joins:
                continue
            release = buf.eviction_release(ordinal, issued)
            if release is None:
                self.unblocks_at = buf.entries[-buf.count + 1][0] if buf.count > 1 else ordinal
                return None
            if release > key:
                key = release
        self.unblocks_at = 0
        if cost.psum_reload:
            pred = ordinal - 1
            if pred >= self.issued:
                return None
            spill = self.channel.stored_cycle(pred)
            if spill is None or spill >= settled_before:
                return None
            key = max(key, self.channel.store_end(pred))
        if key > settled_before:
            return None
        return key

    def request(self, ordinal: int, cost: FoldCost, key: int, layer: int, tag: Tag | None) -> int:
        """Request fold `ordinal`'s load (a fold of `layer`) at cycle `key`; the cycle its data is in SRAM."""
        self.last_key = key
        self.blocked = None
        if cost.psum_reload:
            self.channel.forget(ordinal - 1)
        ready, behind = self.channel.load_fold(key, cost.load_bytes, layer, tag)
        if behind[1]:
            self.behind[ordinal] = behind
        if cost.loads_a and not cost.a_joins:
            self.a.add(ordinal)
        if cost.loads_b and not cost.b_joins:
            self.b.add(ordinal)
        self.ready[ordinal] = ready
        self.next_ordinal = ordinal + 1
        return ready

    def refetch(self, at: int, nbytes: int, tag: Tag | None) -> int:
        """A recompute's refetch requested at `at`, queued behind every load already requested
        (the engine first requests the loads due before `at`: coalesce.request_loads_due_before).

        It streams into the recomputed fold's own buffer space (no buffer is taken from later
        folds); the cycle its data is in SRAM.
        """
        self.last_key = max(self.last_key, at)
        self.blocked = None
        return self.channel.load(self.last_key, nbytes, tag)

    def issued_fold(self, ordinal: int, start: int, window_end: int) -> None:
        """Fold `ordinal` was issued at `start`; its buffers are read until `window_end`."""
        self.starts.append(start)
        self.a.use(ordinal, window_end)
        self.b.use(ordinal, window_end)
        self.issued = ordinal + 1
        if self.ready:
            self.ready.pop(ordinal, None)
        if self.behind:
            self.behind.pop(ordinal, None)

    def writeback_wait(self, ordinal: int, wait: int) -> int:
        """Of fold `ordinal`'s `wait` cycles for its data, those earlier layers' write-back caused.

        Its data would have been in SRAM that much earlier had the channel not served the
        uncharged stores of earlier layers it queued behind (at most `wait`); those stores are
        then charged, so no later fold is charged for them again.
        """
        behind = self.behind.get(ordinal)
        if behind is None or wait <= 0:
            return 0
        end, spans = behind
        per = self.channel.units_per_cycle
        ahead = sum(b - a for a, b, _ in spans)
        cycles = min(wait, -(-end // per) - (-(-(end - ahead) // per)))
        if cycles <= 0:
            return 0
        left, upto = min(ahead, cycles * per), spans[0][0]
        for a, b, _ in spans:  # charge the earliest service first
            upto = a + min(left, b - a)
            left -= upto - a
            if left <= 0:
                break
        self.channel.consume(upto)
        self.behind = {o: (e, tuple(clip_spans(s, upto))) for o, (e, s) in self.behind.items()}
        self.behind = {o: b for o, b in self.behind.items() if b[1]}
        return cycles

    # -- coalescing support ------------------------------------------------------------------
    def state_key(self, now: int, ordinal: int, lo: int, hi: int) -> tuple:
        ready = tuple(sorted([(o - ordinal, c - now) for o, c in self.ready.items()])) if self.ready else ()
        nxt = self.next_ordinal - ordinal if lo <= self.next_ordinal < hi else "beyond"
        base = now * self.channel.units_per_cycle
        behind = (
            tuple(
                sorted(
                    (o - ordinal, e - base, tuple((a - base, b - base, n) for a, b, n in s))
                    for o, (e, s) in self.behind.items()
                )
            )
            if self.behind
            else ()
        )
        return (
            max(self.last_key - now, 0),
            ready,
            behind,
            nxt,
            tuple([s - now for s in self.starts]),
            self.a.state_key(now, ordinal, lo, hi, self._request_floor(self.a.count)),
            self.b.state_key(now, ordinal, lo, hi, self._request_floor(self.b.count)),
        )

    def _request_floor(self, count: int) -> int | None:
        """A cycle no later load into a scratchpad of `count` buffers is requested before: the issue
        of the fold `count` places before the next one (the lookahead bound in `key`), once every
        later fold has such a fold; None before."""
        if self.issued < count or len(self.starts) < count:
            return None
        return self.starts[-count]

    def shift(self, cycles: int, ordinals: int, now: int, lo: int, hi: int) -> None:
        """Advance by a jump; `now` is the issue pointer before it (decides what is still relevant)."""
        self.blocked = None
        if self.last_key > now:
            self.last_key += cycles
        self.ready = {o + ordinals: c + cycles for o, c in self.ready.items()}
        units = cycles * self.channel.units_per_cycle
        self.behind = {
            o + ordinals: (e + units, tuple((a + units, b + units, n) for a, b, n in s))
            for o, (e, s) in self.behind.items()
        }
        if lo <= self.next_ordinal < hi:
            self.next_ordinal += ordinals
        self.starts = deque((s + cycles for s in self.starts), maxlen=self.depth)
        self.a.shift(cycles, ordinals, lo, hi)
        self.b.shift(cycles, ordinals, lo, hi)
        self.issued += ordinals
