"""A compiled tabu search for the generalised assignment problem (GAP): shift and swap moves with oscillation.

The search walks through infeasible assignments too: an agent's load above its capacity costs
``weight[i]`` per unit, and each agent's weight grows while it is overloaded and shrinks while it is
not (strategic oscillation, after Yagiura, Ibaraki and Glover's adaptive penalty weights). Every
iteration takes the best non-tabu shift (one job to another agent) or swap (two jobs on different
agents exchange agents) of the penalised cost; a job that leaves an agent may not come back for a few
iterations (its tenure), unless the move gives a feasible assignment cheaper than the best one
(aspiration). After ``restart`` iterations without a new best, the walk goes back to the best
assignment with a few random shifts.

The kernel (:func:`_tabu_steps`) is compiled by numba and keeps all its state, random generator
included, in arrays, so the search can be run in slices between wall-clock checks and gives the same
result for a seed and an iteration count however it is sliced.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from matcher.gap import GapInstance

# state slots of the kernel (one int64 array)
_IT, _RNG, _BEST, _SINCE, _COST = 0, 1, 2, 3, 4


@njit(cache=True, nogil=True)
def _rand(state: np.ndarray) -> int:
    """The next number of a xorshift64* generator kept in ``state[_RNG]`` (63 bits, non-negative).

    Marsaglia's xorshift with Vigna's multiplier: a generator the kernel can carry in an array.
    """
    s = np.uint64(state[_RNG])
    s ^= s >> np.uint64(12)
    s ^= s << np.uint64(25)
    s ^= s >> np.uint64(27)
    state[_RNG] = np.int64(s)
    return np.int64((s * np.uint64(2685821657736338717)) >> np.uint64(1))


@njit(cache=True, nogil=True)
def _over(used: int, cap: int) -> int:
    """Load above the capacity (0 when within it)."""
    return used - cap if used > cap else 0


@njit(cache=True, nogil=True)
def _tabu_steps(
    cost: np.ndarray,
    load: np.ndarray,
    cap: np.ndarray,
    x: np.ndarray,
    used: np.ndarray,
    weight: np.ndarray,
    tabu: np.ndarray,
    best: np.ndarray,
    state: np.ndarray,
    steps: int,
    tenure: int,
    restart: int,
    up: float,
    down: float,
    chains: bool,
    kicks: int,
) -> None:
    """Run ``steps`` iterations of the tabu search on the state arrays (see the module docstring).

    The state: ``x`` (agent per job) and ``used`` (load per agent) of the walk, the penalty ``weight``
    per agent, ``tabu[i, j]`` = first iteration at which job j may come back to agent i, ``best`` the best
    feasible assignment, ``state`` = iteration, generator, best cost, iterations since the best, walk cost.
    """
    m, n = cost.shape
    gain1 = np.empty(n)
    gain2 = np.empty(n)
    to1 = np.empty(n, dtype=np.int64)
    to2 = np.empty(n, dtype=np.int64)
    for _ in range(steps):
        it = state[_IT]
        state[_IT] = it + 1
        best_cost = state[_BEST]
        cur = state[_COST]
        total_over = 0
        for i in range(m):
            total_over += _over(used[i], cap[i])
        bv = np.inf
        bj, bi, bk, br = (
            -1,
            -1,
            -1,
            -1,
        )  # move: job bj to agent bi, then job bk (or -1) to agent br
        ties = 0
        # shift j: p -> i; gain1/to1 (gain2/to2): the best (second best) non-tabu arrival of each job
        for j in range(n):
            p = x[j]
            lp = used[p] - load[p, j]
            dpo = _over(lp, cap[p]) - _over(used[p], cap[p])
            dp = weight[p] * dpo
            gain1[j], gain2[j], to1[j], to2[j] = np.inf, np.inf, -1, -1
            for i in range(m):
                if i == p:
                    continue
                dio = _over(used[i] + load[i, j], cap[i]) - _over(used[i], cap[i])
                dc = cost[i, j] - cost[p, j]
                arrive = dc + weight[i] * dio
                v = arrive + dp
                if tabu[i, j] > it:
                    if not (total_over + dpo + dio == 0 and cur + dc < best_cost):
                        continue
                else:
                    if arrive < gain1[j]:
                        gain2[j], to2[j] = gain1[j], to1[j]
                        gain1[j], to1[j] = arrive, i
                    elif arrive < gain2[j]:
                        gain2[j], to2[j] = arrive, i
                if v < bv - 1e-9:
                    bv, bj, bi, bk, br, ties = v, j, i, -1, -1, 1
                elif v < bv + 1e-9:
                    ties += 1
                    if _rand(state) % ties == 0:
                        bj, bi, bk, br = j, i, -1, -1
        # swap j (on p) and k (on q)
        for j in range(n):
            p = x[j]
            for k in range(j + 1, n):
                q = x[k]
                if q == p:
                    continue
                np_ = used[p] - load[p, j] + load[p, k]
                nq = used[q] - load[q, k] + load[q, j]
                dpo = _over(np_, cap[p]) - _over(used[p], cap[p])
                dqo = _over(nq, cap[q]) - _over(used[q], cap[q])
                dc = cost[p, k] + cost[q, j] - cost[p, j] - cost[q, k]
                v = dc + weight[p] * dpo + weight[q] * dqo
                aspire = total_over + dpo + dqo == 0 and cur + dc < best_cost
                if (tabu[q, j] > it or tabu[p, k] > it) and not aspire:
                    continue
                if v < bv - 1e-9:
                    bv, bj, bi, bk, br, ties = v, j, q, k, p, 1
                elif v < bv + 1e-9:
                    ties += 1
                    if _rand(state) % ties == 0:
                        bj, bi, bk, br = j, q, k, p
        # chain: j (on p) -> q ejects k (on q) -> r (its best non-tabu arrival other than p and q)
        if chains:
            for j in range(n):
                p = x[j]
                dp = weight[p] * (
                    _over(used[p] - load[p, j], cap[p]) - _over(used[p], cap[p])
                )
                for k in range(n):
                    q = x[k]
                    if q == p or tabu[q, j] > it:
                        continue
                    r, gk = to1[k], gain1[k]
                    if r == p:
                        r, gk = to2[k], gain2[k]
                    if r < 0:
                        continue
                    nq = used[q] - load[q, k] + load[q, j]
                    dq = weight[q] * (_over(nq, cap[q]) - _over(used[q], cap[q]))
                    v = cost[q, j] - cost[p, j] + dp + dq + gk
                    if v < bv - 1e-9:
                        bv, bj, bi, bk, br, ties = v, j, q, k, r, 1
                    elif v < bv + 1e-9:
                        ties += 1
                        if _rand(state) % ties == 0:
                            bj, bi, bk, br = j, q, k, r
        if bj < 0:
            continue  # every move tabu: wait for the tenures to run out
        span = tenure // 2 + 1
        p = x[bj]
        used[p] -= load[p, bj]
        used[bi] += load[bi, bj]
        cur += cost[bi, bj] - cost[p, bj]
        x[bj] = bi
        tabu[p, bj] = it + tenure + _rand(state) % span
        if bk >= 0:
            q = x[bk]
            used[q] -= load[q, bk]
            used[br] += load[br, bk]
            cur += cost[br, bk] - cost[q, bk]
            x[bk] = br
            tabu[q, bk] = it + tenure + _rand(state) % span
        state[_COST] = cur
        feasible = True
        for i in range(m):
            if used[i] > cap[i]:
                feasible = False
                weight[i] *= up
        if feasible:
            for i in range(m):
                weight[i] = max(weight[i] * down, 1e-3)
        if feasible and cur < best_cost:
            state[_BEST] = cur
            state[_SINCE] = 0
            best[:] = x
            continue
        state[_SINCE] += 1
        if state[_SINCE] >= restart:
            state[_SINCE] = 0
            x[:] = best
            used[:] = 0
            for j in range(n):
                used[x[j]] += load[x[j], j]
            for _k in range(kicks):  # a few random shifts away from the best
                j = _rand(state) % n
                i = _rand(state) % m
                if load[i, j] <= cap[i]:
                    used[x[j]] -= load[x[j], j]
                    used[i] += load[i, j]
                    x[j] = i
            cur = 0
            for j in range(n):
                cur += cost[x[j], j]
            state[_COST] = cur


@dataclass
class TabuSearch:
    """A resumable tabu search from a feasible start: :meth:`run` advances it, :attr:`best` is its best assignment.

    The search of :mod:`matcher.gaplocal` (module docstring), its state kept between calls.
    """

    g: GapInstance
    start: np.ndarray
    seed: int = 0
    tenure: int = 4
    restart: int = 50
    up: float = 1.02
    down: float = 0.98
    chains: bool = True
    kicks: int = 2

    def __post_init__(self) -> None:
        g = self.g
        self.cost = np.ascontiguousarray(g.cost, dtype=np.int64)
        big = np.int64(1) << 40
        self.cost = np.where(
            g.load > g.capacity[:, None], big, self.cost
        )  # a pair that can never fit
        self.load = np.ascontiguousarray(g.load, dtype=np.int64)
        self.cap = np.ascontiguousarray(g.capacity, dtype=np.int64)
        self.x = np.asarray(self.start, dtype=np.int64).copy()
        self.best = self.x.copy()
        self.used = np.bincount(
            self.x, weights=self.load[self.x, np.arange(g.jobs)], minlength=g.agents
        ).astype(np.int64)
        if np.any(self.used > self.cap):
            raise ValueError(
                f"{g.name}: the start of the tabu search overloads an agent"
            )
        scale = float(np.mean(g.cost)) / max(1.0, float(np.mean(g.load)))
        self.weight = np.full(g.agents, max(scale, 1e-3))
        self.tabu = np.zeros((g.agents, g.jobs), dtype=np.int64)
        c0 = int(self.cost[self.x, np.arange(g.jobs)].sum())
        seed = (int(self.seed) * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) & (
            (1 << 63) - 1
        ) or 1
        self.state = np.array([0, seed, c0, 0, c0], dtype=np.int64)

    @property
    def best_cost(self) -> int:
        """Cost of the best feasible assignment seen."""
        return int(self.state[_BEST])

    @property
    def iterations(self) -> int:
        """Iterations run so far."""
        return int(self.state[_IT])

    def run(self, iterations: int) -> np.ndarray:
        """Advance the search by ``iterations`` steps; returns the best assignment (a copy)."""
        _tabu_steps(
            self.cost,
            self.load,
            self.cap,
            self.x,
            self.used,
            self.weight,
            self.tabu,
            self.best,
            self.state,
            int(iterations),
            self.tenure,
            self.restart,
            self.up,
            self.down,
            self.chains,
            self.kicks,
        )
        return self.best.copy()

    def run_for(
        self, seconds: float, *, max_iterations: int = 10**12, slice_: int = 500
    ) -> np.ndarray:
        """Advance the search for ``seconds`` of wall clock (checked every ``slice_`` steps) or ``max_iterations``."""
        deadline = time.monotonic() + seconds
        done = 0
        while done < max_iterations and time.monotonic() < deadline:
            k = min(slice_, max_iterations - done)
            self.run(k)
            done += k
        return self.best.copy()


def tabu_search(
    g: GapInstance,
    start: np.ndarray,
    *,
    iterations: int = 10**12,
    time_limit: float = float("inf"),
    seed: int = 0,
) -> np.ndarray:
    """The best feasible assignment a tabu search from ``start`` finds in ``iterations`` steps or ``time_limit`` seconds.

    Never worse than ``start`` (which must be feasible); deterministic for a seed when stopped by ``iterations``.
    """
    ts = TabuSearch(g, start, seed=seed)
    return ts.run_for(time_limit, max_iterations=iterations)


def warm_up() -> None:
    """Compile the kernel (or load it from numba's cache) on a tiny instance."""
    g = GapInstance(
        "warm-up",
        np.array([[1, 2], [2, 1]]),
        np.array([[1, 1], [1, 1]]),
        np.array([2, 2]),
    )
    tabu_search(g, np.array([0, 0]), iterations=2)
