"""The optimal merge: which adjacent pre-bins to join so the bins carry the most information value.

Information value is a sum over bins, so the best partition of pre-bins ``0..j`` into ``k + 1``
bins whose last bin is ``i..j`` extends the best partition of ``0..i-1`` into ``k`` bins whose last
bin ``h..i-1`` fits the trend next to ``i..j``. That makes an exact dynamic programme over (number
of bins, trend phase, start of the last bin, end of the last bin).

Trends compare bad rates (bads / rows) of neighbouring bins, strictly:
"ascending" and "descending" are monotone; "peak" rises then falls and "valley" falls then rises
(each may be monotone, with its turn at an end); "none" imposes nothing. A trend is a sequence of
phases, and a phase means the same in every trend ("peak" starts in the rising phase, which is
all of "ascending"), so one programme over the union of their phases solves several trends at
once: automatic binning gets ascending, descending, peak and valley from one pass.

Cost: the moves (previous bin ``h..i-1``, next bin ``i..j``, way into a phase) that meet the bin
constraints and the trend are listed once, about ``n**3 / 12`` per way for ``n`` pre-bins; each
bin count is then one gather and one grouped maximum over the moves whose previous bin has a
value, so the Python loop runs ``max_bins`` times whatever ``n``. Many problems (every feature of
a table, or all the halves of the held-out checks), of any sizes, trends and bin caps, share one
programme: with few pre-bins most of the cost is per programme, so twenty features merge in the
time of a few. Twenty pre-bins under all four automatic trends take about a millisecond, so no
heuristic is needed.

Zero counts: a bin with no goods or no bads adds 0.5 to both its counts before WoE and IV are
computed (the shares still divide by the unadjusted totals), so every WoE is finite. A bin with no
rows at all gets WoE 0 and IV 0: it says nothing, so it must not move a score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TRENDS = ("ascending", "descending", "peak", "valley", "none")
"""Trends the merge can impose on the bad rates of consecutive bins."""

_ZERO_COUNT_ADJUSTMENT = 0.5
"""Added to a bin's good and bad counts when either is zero, so its WoE stays finite."""

_IV_TIE_TOLERANCE = 1e-12
"""Partitions whose IV differ by less than this are ties, and the one with fewer bins wins."""

_TREND_PHASES: dict[str, tuple[str, ...]] = {
    "ascending": ("rising",),
    "descending": ("falling",),
    "peak": ("rising", "falling_after_rise"),
    "valley": ("falling", "rising_after_fall"),
    "none": ("free",),
}
"""Each trend's phases in order; a partition starts in the first."""

_PHASE_WAYS: dict[str, tuple[str, tuple[str, ...]]] = {
    "rising": ("rise", ("rising",)),
    "falling": ("fall", ("falling",)),
    "falling_after_rise": ("fall", ("rising", "falling_after_rise")),
    "rising_after_fall": ("rise", ("falling", "rising_after_fall")),
    "free": ("any", ("free",)),
}
"""How a bin enters each phase: how its bad rate compares with the previous bin's, and the phases
the previous bin may be in (in order of preference on a tie)."""

programme_cells_max = 2**21
"""Problems times pre-bins cubed in one programme, which its moves and tables grow with: more
problems are solved in several programmes (one problem always fits: 100 pre-bins are 10**6)."""


@dataclass(frozen=True)
class Partition:
    """A chosen partition: where each bin starts (pre-bin indices, first is 0) and its total IV."""

    starts: tuple[int, ...]
    iv: float


@dataclass(frozen=True)
class MergeProblem:
    """One set of pre-bin counts to merge: the totals WoE divides by, the constraints on a bin,
    and the trends to find the best partition under."""

    good_counts: np.ndarray
    bad_counts: np.ndarray
    good_total: int
    bad_total: int
    min_bin_count: int
    min_bin_bad_count: int
    trends: tuple[str, ...]
    max_bins: int

    def __post_init__(self) -> None:
        assert all(trend in _TREND_PHASES for trend in self.trends), f"a trend of {self.trends}"
        assert self.max_bins >= 1


def woe_iv(
    good_counts: np.ndarray, bad_counts: np.ndarray, good_total: int, bad_total: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return each bin's WoE and IV contribution, with the zero-count rule of the module docstring.

    ``WoE = ln(share of bads / share of goods)`` (positive = riskier) and
    ``IV = (share of bads - share of goods) * WoE``; shares divide by the totals of all rows.
    """
    assert good_total > 0 and bad_total > 0, "WoE needs both goods and bads in the data"
    return _woe_iv(good_counts, bad_counts, good_total, bad_total)


def _woe_iv(
    good_counts: np.ndarray, bad_counts: np.ndarray, good_total: Any, bad_total: Any
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`woe_iv` without the check, for totals that broadcast (one per problem)."""
    good = np.asarray(good_counts, dtype=np.float64)
    bad = np.asarray(bad_counts, dtype=np.float64)
    empty = (good + bad) == 0
    adjusted = ((good == 0) | (bad == 0)) & ~empty
    bad_share = (bad + _ZERO_COUNT_ADJUSTMENT * adjusted) / bad_total
    good_share = (good + _ZERO_COUNT_ADJUSTMENT * adjusted) / good_total
    with np.errstate(divide="ignore", invalid="ignore"):
        woe = np.where(empty, 0.0, np.log(bad_share / good_share))
    iv = np.where(empty, 0.0, (bad_share - good_share) * woe)
    return woe, iv


def optimal_partition(
    good_counts: np.ndarray,
    bad_counts: np.ndarray,
    *,
    good_total: int,
    bad_total: int,
    trend: str,
    max_bins: int,
    min_bin_count: int,
    min_bin_bad_count: int,
) -> Partition | None:
    """Return the partition of adjacent pre-bins with the largest IV, or None if none is allowed.

    A partition is allowed when it has at most ``max_bins`` bins, every bin has at least
    ``min_bin_count`` rows and ``min_bin_bad_count`` bads, and the bins' bad rates follow
    ``trend``. Among partitions with equal IV the one with fewer bins wins.
    """
    problem = MergeProblem(
        good_counts=np.asarray(good_counts),
        bad_counts=np.asarray(bad_counts),
        good_total=good_total,
        bad_total=bad_total,
        min_bin_count=min_bin_count,
        min_bin_bad_count=min_bin_bad_count,
        trends=(trend,),
        max_bins=max_bins,
    )
    return optimal_partitions([problem])[0][trend]


def optimal_partitions(problems: Sequence[MergeProblem]) -> list[dict[str, Partition | None]]:
    """For each problem, :func:`optimal_partition` under each of its trends, from as few
    programmes as ``programme_cells_max`` allows.

    A problem with fewer pre-bins than others in its programme is padded with pre-bins that no
    allowed bin may end in, so its optimum is exactly the one it has alone; its moves enter only
    the phases of its own trends, and only partitions within its own ``max_bins`` count.
    """
    solved: list[dict[str, Partition | None]] = [{} for _ in problems]
    for chunk in _programmes([problem.good_counts.size for problem in problems]):
        partitions = _solve([problems[index] for index in chunk])
        for index, problem_partitions in zip(chunk, partitions, strict=True):
            solved[index] = problem_partitions
    return solved


def _programmes(sizes: list[int]) -> list[list[int]]:
    """Problem indices grouped into programmes of at most ``programme_cells_max`` cells, similar
    sizes together so that little is padded."""
    programmes: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(sizes)), key=sizes.__getitem__):
        if current and (len(current) + 1) * sizes[index] ** 3 > programme_cells_max:
            programmes.append(current)
            current = []
        current.append(index)
    return [*programmes, current] if current else programmes


def _solve(problems: list[MergeProblem]) -> list[dict[str, Partition | None]]:
    """One programme for ``problems``: every problem's best partition under each of its trends."""
    sizes = [problem.good_counts.size for problem in problems]
    size = max(sizes)
    if size == 0:
        return [dict.fromkeys(problem.trends) for problem in problems]
    trends = list(dict.fromkeys(trend for problem in problems for trend in problem.trends))
    phases = list(dict.fromkeys(phase for trend in trends for phase in _TREND_PHASES[trend]))
    rows = {kind: _phase_rows(kind, phases) for kind in {problem.trends for problem in problems}}
    in_phase = np.array([rows[problem.trends][0] for problem in problems])
    first = np.array([rows[problem.trends][1] for problem in problems])
    bins_caps = np.array([problem.max_bins for problem in problems])
    ends = np.array(sizes) - 1  # -1 for a problem without pre-bins: it has no partition
    segment_iv, segment_rate = _segments(problems, size)
    moves = _moves(segment_iv, segment_rate, phases, in_phase, sizes)
    table = _forward(segment_iv, first, moves, min(int(bins_caps.max()), size), ends)
    return _read_partitions(table, problems, phases, ends)


def _phase_rows(trends: tuple[str, ...], phases: list[str]) -> tuple[list[bool], list[bool]]:
    """Which of ``phases`` a problem with ``trends`` uses, and which its first bin may be in."""
    used = {phase for trend in trends for phase in _TREND_PHASES[trend]}
    starting = {_TREND_PHASES[trend][0] for trend in trends}
    return [phase in used for phase in phases], [phase in starting for phase in phases]


def _segments(problems: list[MergeProblem], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return IV and bad rate of every run ``i..j`` of pre-bins of each problem, padded to
    ``size`` pre-bins; IV is -inf where the run is not an allowed bin (or runs into padding).

    Only each problem's own runs are computed: in (j, i) order a smaller problem's runs are a
    prefix of a larger one's, and their counts are differences of one running total.
    """
    own = np.array([problem.good_counts.size for problem in problems])
    good_total, bad_total, min_count, min_bad_count = (
        np.array([getattr(problem, name) for problem in problems])
        for name in ("good_total", "bad_total", "min_bin_count", "min_bin_bad_count")
    )
    good_cumulative = _running_total([problem.good_counts for problem in problems])
    bad_cumulative = _running_total([problem.bad_counts for problem in problems])
    positions = np.arange(size)
    all_ends, all_starts = np.nonzero(positions[None, :] <= positions[:, None])  # axes (j, i)
    runs = own * (own + 1) // 2
    problem = np.repeat(np.arange(own.size), runs)
    run = np.arange(runs.sum()) - np.repeat(np.cumsum(runs) - runs, runs)
    start, end = all_starts[run], all_ends[run]
    offsets = np.cumsum(own) - own  # where each problem's pre-bins begin, all in a row
    first = offsets[problem] + start  # each run's first and last pre-bin
    last = offsets[problem] + end
    segment_good = good_cumulative[last + 1] - good_cumulative[first]
    segment_bad = bad_cumulative[last + 1] - bad_cumulative[first]
    rows = segment_good + segment_bad
    _, run_iv = _woe_iv(segment_good, segment_bad, good_total[problem], bad_total[problem])
    allowed = (rows >= min_count[problem]) & (segment_bad >= min_bad_count[problem]) & (rows > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        run_rate = np.where(rows > 0, segment_bad / np.maximum(rows, 1), np.nan)
    place = (problem * size + start) * size + end
    segment_iv = np.full(own.size * size * size, -np.inf)
    segment_iv[place] = np.where(allowed, run_iv, -np.inf)
    segment_rate = np.full(own.size * size * size, np.nan)
    segment_rate[place] = run_rate
    shape = (own.size, size, size)
    return segment_iv.reshape(shape), segment_rate.reshape(shape)


def _running_total(counts: list[np.ndarray]) -> np.ndarray:
    """0, then the running total of all the counts one after another (int64)."""
    return np.concatenate(([0], np.cumsum(np.concatenate(counts), dtype=np.int64)))


@dataclass(frozen=True)
class _Moves:
    """Every allowed move into a state, grouped by the state it reaches.

    A state is (problem, phase, i, j): pre-bins 0..j of the problem in some number of bins, the
    last one i..j, in that phase; states are numbered as flat indices into a table of that shape.
    Within a group, moves are in order of preference on a tie: the phase's ways in, then the
    previous bin's start.
    """

    source: np.ndarray
    """The state each move comes from: its previous bin ``h..i-1`` in its phase."""
    code: np.ndarray
    """Each move's parent code, ``h * phases + previous phase``."""
    group_starts: np.ndarray
    """Index of each reached state's first move."""
    group_of_move: np.ndarray
    """Each move's group."""
    group_state: np.ndarray
    """The state each group reaches."""
    group_iv: np.ndarray
    """The IV of the new bin ``i..j`` of each group."""


@dataclass(frozen=True)
class _Table:
    """What a programme leaves to read partitions from.

    ``complete[k, problem, phase, i]`` is the best IV of all of the problem's pre-bins in k + 1
    bins, the last starting at i; ``parents[k][slot]`` is the parent code of the state in that
    slot (states reached by a move have the first slots, in group order).
    """

    complete: np.ndarray
    parents: list[np.ndarray]
    slot_of_state: np.ndarray
    phase_count: int
    size: int


def _forward(
    segment_iv: np.ndarray, first: np.ndarray, moves: _Moves, bins_max: int, ends: np.ndarray
) -> _Table:
    """Run the programme: the best IV of every state for 1, 2, ... ``bins_max`` bins.

    A first bin 0..j may be in the phases ``first[problem]`` marks. Each bin count is one gather
    and one grouped maximum over the moves whose previous state has a value, so the Python loop
    runs ``bins_max`` times whatever the number of problems and pre-bins; of equal candidates the
    first in a group's order wins, as a scan in that order would choose. Only states a bin can
    reach get a slot in the arrays the loop works on (a state no move reaches shares one slot
    that stays -inf), so they are as small as the list of moves.
    """
    problem_count, phase_count = first.shape
    size = segment_iv.shape[1]
    problem, phase, end = np.nonzero(first[:, :, None] & np.isfinite(segment_iv[:, None, 0, :]))
    first_states = (problem * phase_count + phase) * size * size + end
    group_count = moves.group_state.size
    reached = np.concatenate((moves.group_state, first_states))
    slot_count = reached.size + 1  # the last slot: every state no bin reaches
    slot_of_state = np.full(problem_count * phase_count * size * size, slot_count - 1)
    slot_of_state[reached] = np.arange(reached.size)
    source = slot_of_state[moves.source]
    layer = np.full(slot_count, -np.inf)
    layer[group_count:-1] = segment_iv[problem, 0, end]
    layers = [layer]
    parents = [np.empty(0, dtype=np.int64)]  # a first bin has no parent
    for _ in range(1, bins_max):
        active = np.flatnonzero(np.isfinite(layer)[source])  # moves from a state with a value
        if active.size == 0:
            break  # no partition has this many bins, so none has more
        candidates = layer[source[active]]
        groups = moves.group_of_move[active]
        new_group = np.ones(active.size, dtype=bool)
        new_group[1:] = groups[1:] != groups[:-1]
        starts = np.flatnonzero(new_group)
        best_iv = np.maximum.reduceat(candidates, starts)
        hits = np.flatnonzero(candidates == np.repeat(best_iv, np.diff(starts, append=active.size)))
        first_hits = hits[np.searchsorted(hits, starts)]
        reached_groups = groups[starts]
        layer = np.full(slot_count, -np.inf)
        layer[reached_groups] = moves.group_iv[reached_groups] + best_iv
        layers.append(layer)
        parent = np.full(group_count, -1, dtype=np.int64)
        parent[reached_groups] = moves.code[active[first_hits]]
        parents.append(parent)
    # the states that cover all of their problem's pre-bins, as [bins, problem, phase, start]
    problem_phase_start, state_end = np.divmod(reached, size)
    is_complete = state_end == ends[problem_phase_start // (phase_count * size)]
    complete = np.full((bins_max, problem_count * phase_count * size), -np.inf)
    complete_slots = np.flatnonzero(is_complete)
    values = np.stack(layers)[:, complete_slots]
    complete[: len(layers), problem_phase_start[complete_slots]] = values
    complete = complete.reshape(bins_max, problem_count, phase_count, size)
    return _Table(complete, parents, slot_of_state, phase_count, size)


def _moves(
    segment_iv: np.ndarray,
    segment_rate: np.ndarray,
    phases: list[str],
    in_phase: np.ndarray,
    sizes: list[int],
) -> _Moves:
    """List every move allowed by the bin constraints and the phases' relations, into the phases
    each problem uses (``in_phase[problem, phase]``).

    Only the triples h < i <= j < n of each problem's own n pre-bins are looked at (a previous bin
    h..i-1, then a next bin i..j): in (j, i, h) order a smaller problem's triples are a prefix of
    a larger one's, so padding costs nothing, and moves come out grouped by the state they reach.
    """
    size = segment_iv.shape[1]
    positions = np.arange(size)
    ends, starts, previous_starts = np.nonzero(  # axes (j, i, h)
        (positions[None, :, None] <= positions[:, None, None])
        & (positions[None, None, :] < positions[None, :, None])
    )
    own = np.array(sizes)
    counts = (own + 1) * own * (own - 1) // 6  # triples within n pre-bins
    problem = np.repeat(np.arange(own.size), counts)
    triple = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    start, end, previous_start = starts[triple], ends[triple], previous_starts[triple]
    previous_bin = (problem * size + previous_start) * size + start - 1
    next_bin = (problem * size + start) * size + end
    allowed = np.isfinite(segment_iv).reshape(-1)
    possible = allowed[previous_bin] & allowed[next_bin]
    rates = segment_rate.reshape(-1)
    previous_rate, next_rate = rates[previous_bin], rates[next_bin]
    related: dict[str, np.ndarray] = {}
    chosen = []
    for phase, name in enumerate(phases):
        relation = _PHASE_WAYS[name][0]
        if relation not in related:
            related[relation] = np.flatnonzero(
                _related(possible, previous_rate, next_rate, relation)
            )
        entries = related[relation]
        if not in_phase[:, phase].all():
            entries = entries[in_phase[problem[entries], phase]]
        chosen.append(entries)
    phase = np.repeat(np.arange(len(phases)), [entries.size for entries in chosen])
    entries = np.concatenate(chosen)
    # a state's moves, once per way into its phase, in order of preference
    sources = [[phases.index(source) for source in _PHASE_WAYS[name][1]] for name in phases]
    ways = np.array([len(names) for names in sources])
    entry, way = _repeat_runs(phase * segment_iv.size + next_bin[entries], ways[phase])
    entries, phase = entries[entry], phase[entry]
    ways_max = int(ways.max())  # a phase with fewer ways never reads its padding
    source_phases = np.array([names + [0] * (ways_max - len(names)) for names in sources])
    source_phase = source_phases[phase, way]
    problem, start, end = problem[entries], start[entries], end[entries]
    previous_start = previous_start[entries]
    phase_count = len(phases)
    source = ((problem * phase_count + source_phase) * size + previous_start) * size + start - 1
    target = ((problem * phase_count + phase) * size + start) * size + end
    code = previous_start * phase_count + source_phase
    state = next_bin[entries]
    new_group = np.ones(target.shape, dtype=bool)
    new_group[1:] = target[1:] != target[:-1]
    group_starts = np.flatnonzero(new_group)
    return _Moves(
        source=source,
        code=code,
        group_starts=group_starts,
        group_of_move=np.cumsum(new_group) - 1,
        group_state=target[group_starts],
        group_iv=segment_iv.reshape(-1)[state[group_starts]],
    )


def _related(
    possible: np.ndarray, previous_rate: np.ndarray, next_rate: np.ndarray, relation: str
) -> np.ndarray:
    """``possible`` where the next bin's bad rate relates to the previous bin's so."""
    if relation == "any":
        return possible
    with np.errstate(invalid="ignore"):
        if relation == "rise":
            return possible & (previous_rate < next_rate)
        return possible & (previous_rate > next_rate)


def _repeat_runs(keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each run of equal ``keys`` repeated ``times`` (the same for a whole run) in a row: the
    index into ``keys`` of every output entry, and which repetition it belongs to."""
    new_run = np.ones(keys.shape, dtype=bool)
    new_run[1:] = keys[1:] != keys[:-1]
    run_starts = np.flatnonzero(new_run)
    run_sizes = np.diff(np.append(run_starts, keys.size))
    output_sizes = run_sizes * times[run_starts]
    run_of_entry = np.repeat(np.arange(run_starts.size), output_sizes)
    output_starts = np.cumsum(output_sizes) - output_sizes
    offset = np.arange(output_sizes.sum()) - output_starts[run_of_entry]
    repetition, within = np.divmod(offset, run_sizes[run_of_entry])
    return run_starts[run_of_entry] + within, repetition


def _read_partitions(
    table: _Table, problems: list[MergeProblem], phases: list[str], ends: np.ndarray
) -> list[dict[str, Partition | None]]:
    """Every problem's best complete partition under each of its trends (fewest bins among IV
    ties), walked back from its last pre-bin through the parents: all at once."""
    pairs = [(index, trend) for index, problem in enumerate(problems) for trend in problem.trends]
    problem = np.array([index for index, _ in pairs])
    no_phase = len(phases)  # pads a one-phase trend: -inf everywhere
    trend_phases = np.array(
        [
            [phases.index(name) for name in _TREND_PHASES[trend]]
            + [no_phase] * (2 - len(_TREND_PHASES[trend]))
            for _, trend in pairs
        ]
    )
    bins_max, problem_count, _, size = table.complete.shape
    padded = np.concatenate(
        (table.complete, np.full((bins_max, problem_count, 1, size), -np.inf)), axis=2
    )
    scores = padded[:, problem[:, None], trend_phases, :]  # [bins, pair, trend phase, start]
    scores = scores.transpose(1, 0, 2, 3).reshape(len(pairs), bins_max, -1)
    bins_caps = np.array([problems[index].max_bins for index in problem])
    scores[np.arange(bins_max)[None, :] >= bins_caps[:, None]] = -np.inf
    best_by_bins = scores.max(axis=2)
    best = best_by_bins.max(axis=1)
    found = np.isfinite(best) & (ends[problem] >= 0)
    bins_index = np.argmax(best_by_bins >= (best - _IV_TIE_TOLERANCE)[:, None], axis=1)
    bins_index[~found] = 0
    every = np.arange(len(pairs))
    position = scores[every, bins_index].argmax(axis=1)
    trend_phase, start = np.divmod(position, size)
    starts = _walk_back(
        table, problem, bins_index, trend_phases[every, trend_phase], start, ends[problem]
    )
    assert (starts[found, 0] == 0).all(), "the first bin starts at the first pre-bin"
    iv = scores[every, bins_index, position]
    partitions: list[dict[str, Partition | None]] = [{} for _ in problems]
    for (index, trend), path, count, path_iv, exists in zip(
        pairs, starts.tolist(), (bins_index + 1).tolist(), iv.tolist(), found.tolist(), strict=True
    ):
        partitions[index][trend] = Partition(tuple(path[:count]), path_iv) if exists else None
    return partitions


def _walk_back(
    table: _Table,
    problem: np.ndarray,
    bins_index: np.ndarray,
    phase: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> np.ndarray:
    """The bin starts of each path whose last bin is ``start..end`` in ``phase``, first to last
    (``[path, bin]``), following the parents back one bin count at a time for all paths."""
    starts = np.full((problem.size, table.complete.shape[0]), -1)
    starts[np.arange(problem.size), bins_index] = start
    phase, start, end = phase.copy(), start.copy(), end.copy()
    for level in range(int(bins_index.max(initial=0)), 0, -1):
        walking = np.flatnonzero(bins_index >= level)
        state = ((problem * table.phase_count + phase) * table.size + start) * table.size + end
        code = table.parents[level][table.slot_of_state[state[walking]]]
        assert (code >= 0).all(), "a reachable state has a parent"
        end[walking] = start[walking] - 1
        start[walking], phase[walking] = np.divmod(code, table.phase_count)
        starts[walking, level - 1] = start[walking]
    return starts
