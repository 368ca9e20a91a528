"""A primal search for the generalised assignment problem (GAP), handed to CP-SAT as a start.

The steps of :func:`solve_gap`:

1. :func:`lagrangian_start`: relax the capacities with multipliers ``u`` (each job goes to the agent
   with the least ``c + u * a``), move the multipliers by subgradient steps, and repair each relaxed
   assignment into a feasible one (:func:`repair`, :func:`regret_greedy`) polished by shift and swap
   moves (:func:`local_search`). The relaxation also gives a (weak) lower bound; the knapsack
   Lagrangian of :mod:`matcher.gapbound` gives a much stronger one, and a plan that reaches it is
   proven optimal at once (the run ends there, before or after the probe).
2. A CP-SAT probe (:func:`matcher.model.solve_problem` with the start as ``hint``): easy instances
   end here, proven optimal; when its plan is within 0.5 % of its proven bound, CP-SAT simply goes on
   (step 3 is skipped).
3. :func:`tabu_pool_search` (the default ``search="tabu"``): a pool of assignments found by the compiled
   tabu search of :mod:`matcher.gaplocal` (shift, swap and ejection-chain moves through overloaded
   assignments, capacity excess penalised with adaptive weights), recombined by :func:`merge` (jobs
   where two assignments agree stay, the others are re-solved exactly by a small single-worker CP-SAT
   model); each child is polished by a short tabu search or by :func:`job_lns` (a large-neighbourhood
   search that frees a few dozen jobs and re-solves them exactly), in turn. ``search="lns"`` runs the
   earlier :func:`elite_search` instead: rounds of :func:`job_lns` merged with a pool of the best.
   Either runs on ``workers`` threads.
4. CP-SAT again from the best assignment (``hint``) for the rest of the time: its own search
   continues from there and it proves a lower bound. The returned plan is never worse than the start.

Every step is deterministic for a given seed when it is stopped by its iteration or round count; under
a wall-clock limit the number of steps, and so the result, depends on the machine's speed.
Assignments are arrays ``assign[j] = agent of job j``; costs are the instance's integers.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from matcher.errors import SolveError
from matcher.gap import GapInstance, assignment_hint, gap_problem
from matcher.gapbound import knapsack_bound
from matcher.model import AssignmentProblem, Solution, solve_problem

BIG = np.int64(1) << 40  # cost of a pair whose load exceeds the agent's whole capacity


@dataclass
class GapResult:
    """The search's outcome: the assignment, its cost, the best lower bound found and the improvement history."""

    assign: np.ndarray  # agent per job
    cost: int
    bound: int  # best proven lower bound (CP-SAT's or a Lagrangian one, whichever is largest)
    status: str  # OPTIMAL when cost == bound, FEASIBLE otherwise
    history: list[tuple[str, float, int]] = field(
        default_factory=list
    )  # (phase, seconds, cost) at each improvement
    lagrangian_bound: int = 0
    start_cost: int = 0  # cost handed to CP-SAT
    solution: Solution | None = None
    problem: AssignmentProblem | None = None
    knapsack_bound: int = 0  # matcher.gapbound's bound (assignment rows relaxed, one knapsack per agent)


def _costs(g: GapInstance) -> np.ndarray:
    """Pair costs with unusable pairs (load above the agent's capacity) priced out."""
    c = g.cost.astype(np.int64).copy()
    c[g.load > g.capacity[:, None]] = BIG
    return c


def loads(g: GapInstance, assign: np.ndarray) -> np.ndarray:
    """Load carried by each agent under an assignment."""
    return np.bincount(
        assign, weights=g.load[assign, np.arange(g.jobs)], minlength=g.agents
    ).astype(np.int64)


def assignment_cost(g: GapInstance, assign: np.ndarray) -> int:
    """Sum of c[agent][job] over the jobs."""
    return int(g.cost[assign, np.arange(g.jobs)].sum())


def is_feasible(g: GapInstance, assign: np.ndarray) -> bool:
    """Every job has one agent and no agent carries more than its capacity."""
    return assign.shape == (g.jobs,) and bool(np.all(loads(g, assign) <= g.capacity))


def regret_greedy(g: GapInstance, desire: np.ndarray) -> np.ndarray | None:
    """Assign jobs one at a time, the job with the largest regret first, each to its most desirable agent with room.

    Martello and Toth's MTHG rule: ``desire[i, j]`` is lower for better pairs; the regret of a job is
    the gap between its best and second-best agent that still has room. None when a job has no room left.
    """
    a = g.load
    m, n = a.shape
    slack = g.capacity.astype(np.int64).copy()
    x = np.full(n, -1, dtype=np.int64)
    open_ = np.ones(n, dtype=bool)
    d = desire.astype(float)
    for _ in range(n):
        cols = np.flatnonzero(open_)
        fit = a[:, cols] <= slack[:, None]
        f = np.where(fit, d[:, cols], np.inf)
        part = (
            np.partition(f, 1, axis=0)
            if m > 1
            else np.vstack([f, np.full_like(f, np.inf)])
        )
        best, second = part[0], part[1]
        if not np.all(np.isfinite(best)):
            return None
        regret = np.where(np.isfinite(second), second - best, np.inf)
        k = int(np.argmax(regret))
        j = int(cols[k])
        i = int(np.argmin(f[:, k]))
        x[j] = i
        slack[i] -= a[i, j]
        open_[j] = False
    return x


def repair(g: GapInstance, assign: np.ndarray) -> np.ndarray | None:
    """Move jobs off overloaded agents until every capacity holds; None when stuck.

    Jobs on agents within capacity stay; the jobs of each overloaded agent are taken off, largest
    load first, until it fits, and then placed back by :func:`regret_greedy` on cost (or, when that
    gets stuck, on cost times load, then on load as a share of the capacity); when all three get stuck,
    every job is placed again by load share.
    """
    c = _costs(g)
    a = g.load
    x = assign.copy()
    jobs = np.arange(g.jobs)
    load = loads(g, x)
    for i in np.flatnonzero(load > g.capacity):
        mine = jobs[x == i]
        for j in mine[np.argsort(-a[i, mine], kind="stable")]:
            if load[i] <= g.capacity[i]:
                break
            load[i] -= a[i, j]
            x[j] = -1
    free = np.flatnonzero(x < 0)
    if len(free) == 0:
        return x
    room = g.capacity - load
    sub = GapInstance(g.name, g.cost[:, free], a[:, free], room)
    usable = a[:, free] <= room[:, None]
    for desire in (
        c[:, free],
        c[:, free] * a[:, free],
        a[:, free] / np.maximum(room, 1)[:, None],
    ):
        y = regret_greedy(sub, np.where(usable & (c[:, free] < BIG), desire, np.inf))
        if y is not None:
            x[free] = y
            return x
    # start over: every job placed by load share, its current agent preferred on ties
    share = a / g.capacity[:, None].astype(float)
    share[assign, np.arange(g.jobs)] -= 1e-9
    return regret_greedy(g, np.where(c < BIG, share, np.inf))


def local_search(
    g: GapInstance, assign: np.ndarray, max_moves: int = 100000
) -> np.ndarray:
    """Best-improvement shift (one job to another agent) and swap (two jobs exchange agents) moves, capacities kept.

    Stops at a local optimum for both moves (or after ``max_moves``).
    """
    c = _costs(g)
    a = g.load
    n = g.jobs
    jobs = np.arange(n)
    x = assign.copy()
    load = loads(g, x)
    for _ in range(max_moves):
        slack = g.capacity - load
        cur = c[x, jobs]
        cur_a = a[x, jobs]
        # shift
        d_shift = np.where(a <= slack[:, None], c - cur[None, :], 0)
        i, j = np.unravel_index(int(np.argmin(d_shift)), d_shift.shape)
        best_shift = int(d_shift[i, j])
        # swap: R[j, k] = c[agent of j][k]
        r = c[x, :]
        la = a[x, :]
        d_swap = r + r.T - cur[:, None] - cur[None, :]
        fit = (slack[x][:, None] + cur_a[:, None] - la) >= 0
        fit &= fit.T
        fit &= x[:, None] != x[None, :]
        d_swap = np.where(fit, d_swap, 0)
        jj, kk = np.unravel_index(int(np.argmin(d_swap)), d_swap.shape)
        best_swap = int(d_swap[jj, kk])
        if min(best_shift, best_swap) >= 0:
            break
        if best_shift <= best_swap:
            load[x[j]] -= a[x[j], j]
            load[i] += a[i, j]
            x[j] = i
        else:
            sj, sk = x[jj], x[kk]
            load[sj] += a[sj, kk] - a[sj, jj]
            load[sk] += a[sk, jj] - a[sk, kk]
            x[jj], x[kk] = sk, sj
    return x


def lagrangian_start(
    g: GapInstance, *, iterations: int = 300, seed: int = 0, repair_every: int = 5
) -> tuple[np.ndarray | None, int, np.ndarray]:
    """Best feasible assignment found along a subgradient walk on the capacity multipliers, the bound, the multipliers.

    L(u) = sum_j min_i (c_ij + u_i a_ij) - sum_i u_i b_i <= optimum for any u >= 0. Every
    ``repair_every`` steps the relaxed assignment is repaired and polished by :func:`local_search`.
    """
    rng = np.random.default_rng(seed)
    c = _costs(g).astype(float)
    a = g.load.astype(float)
    b = g.capacity.astype(float)
    jobs = np.arange(g.jobs)
    u = np.zeros(g.agents)
    best_lb = -math.inf
    best_x: np.ndarray | None = None
    best_cost = math.inf
    # a primal estimate for Polyak's step: cheapest column sums scaled up a little
    target = float(c.min(axis=0).sum()) * 1.05
    step_scale = 2.0
    seen: set[bytes] = set()
    for desire in (
        a / b[:, None],
        c * a,
    ):  # load-led starts: feasible even when capacities are tight
        y = regret_greedy(g, np.where(c < BIG, desire, np.inf))
        if y is not None:
            y = local_search(g, y)
            if assignment_cost(g, y) < best_cost:
                best_x, best_cost = y, assignment_cost(g, y)
    stall = 0
    for it in range(iterations):
        red = c + u[:, None] * a
        x = np.argmin(red, axis=0)
        lb = float(red[x, jobs].sum() - u @ b)
        if lb > best_lb + 1e-9:
            best_lb, stall = lb, 0
        else:
            stall += 1
            if stall >= 20:
                step_scale, stall = step_scale / 2, 0
        sub = np.bincount(x, weights=a[x, jobs], minlength=g.agents) - b
        if it % repair_every == 0:
            key = x.astype(np.int16).tobytes()
            if key not in seen:
                seen.add(key)
                for y in (repair(g, x), regret_greedy(g, red)):
                    if y is None:
                        continue
                    y = local_search(g, y)
                    cy = assignment_cost(g, y)
                    if cy < best_cost:
                        best_x, best_cost = y, cy
                        target = min(target, float(cy))
        if not np.any(sub > 0) and np.all((sub >= 0) | (u == 0)):
            break  # the relaxed assignment is feasible and complementary: optimal
        norm = float(sub @ sub)
        if norm == 0:
            break
        goal = best_cost if best_cost < math.inf else target
        t = step_scale * max(goal - lb, 1e-6) / norm
        u = np.maximum(0.0, u + t * sub * (1.0 + 0.01 * rng.standard_normal(g.agents)))
    if not math.isfinite(
        best_lb
    ):  # no step taken: L(0), every job at its cheapest agent
        best_lb = float(c.min(axis=0).sum())
    return best_x, math.ceil(best_lb - 1e-6), u


def _related_agents(
    g: GapInstance,
    assign: np.ndarray,
    first: int,
    k: int,
    rng: np.random.Generator,
    c: np.ndarray,
) -> np.ndarray:
    """``first`` and ``k - 1`` agents chosen with weight on those whose costs for ``first``'s jobs are closest."""
    mine = np.flatnonzero(assign == first)
    m = g.agents
    if len(mine):
        gap = np.sort(c[:, mine] - c[first, mine][None, :], axis=1)[
            :, : max(1, min(3, len(mine)))
        ].mean(axis=1)
        gap = gap.astype(float)
    else:
        gap = np.zeros(m)
    gap[first] = np.inf
    finite = np.isfinite(gap) & (gap < BIG / 2)
    w = np.zeros(m)
    if finite.any():
        scale = max(1.0, float(np.std(gap[finite])))
        w[finite] = np.exp(-(gap[finite] - gap[finite].min()) / scale)
    w[first] = 0.0
    if w.sum() <= 0:
        w = np.ones(m)
        w[first] = 0.0
    pick = rng.choice(m, size=min(k - 1, m - 1), replace=False, p=w / w.sum())
    return np.sort(np.concatenate([[first], pick])).astype(np.int64)


def _solve_jobs(
    g: GapInstance,
    assign: np.ndarray,
    jobs: np.ndarray,
    time_limit: float,
    seed: int,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray | None, bool]:
    """Reassign ``jobs`` (any agent, in the room the other jobs leave) at least cost with CP-SAT (one worker).

    Returns the new assignment (None when not better) and whether CP-SAT proved the sub-problem optimal.
    """
    jobs = np.unique(jobs)
    cc = g.cost
    fixed = np.ones(g.jobs, dtype=bool)
    fixed[jobs] = False
    room = g.capacity - np.bincount(
        assign[fixed],
        weights=g.load[assign[fixed], np.flatnonzero(fixed)],
        minlength=g.agents,
    ).astype(np.int64)
    model = cp_model.CpModel()
    a_sub = g.load[:, jobs]
    ok = a_sub <= room[:, None]
    if allowed is not None:
        ok &= allowed[:, jobs]
        ok[assign[jobs], np.arange(len(jobs))] = True
    ii, kk = np.nonzero(ok)
    xs = [model.new_bool_var("") for _ in range(len(ii))]
    for v, i, k in zip(xs, ii, kk):
        model.add_hint(v, bool(assign[jobs[k]] == i))
    by_job: list[list[cp_model.IntVar]] = [[] for _ in jobs]
    by_agent: dict[int, list[int]] = {}
    for t, (i, k) in enumerate(zip(ii, kk)):
        by_job[k].append(xs[t])
        by_agent.setdefault(int(i), []).append(t)
    for row in by_job:
        model.add_exactly_one(row)
    for agent, ts in by_agent.items():
        if int(a_sub[agent, kk[ts]].sum()) > int(room[agent]):
            model.add(
                cp_model.LinearExpr.weighted_sum(
                    [xs[t] for t in ts], [int(a_sub[agent, kk[t]]) for t in ts]
                )
                <= int(room[agent])
            )
    obj = cp_model.LinearExpr.weighted_sum(
        xs, [int(cc[i, jobs[k]]) for i, k in zip(ii, kk)]
    )
    before = int(cc[assign[jobs], jobs].sum())
    model.add(obj <= before - 1)  # only a strictly better reassignment is of use
    model.minimize(obj)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(seed)
    solver.parameters.max_deterministic_time = time_limit
    solver.parameters.max_time_in_seconds = 4 * time_limit
    st = solver.solve(model)
    proved = st in (cp_model.OPTIMAL, cp_model.INFEASIBLE)
    if (
        st not in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        or round(solver.objective_value) >= before
    ):
        return None, proved
    out = assign.copy()
    for v, i, k in zip(xs, ii, kk):
        if solver.boolean_value(v):
            out[jobs[k]] = i
    return out, proved


def job_lns(
    g: GapInstance,
    assign: np.ndarray,
    *,
    time_limit: float,
    seed: int = 0,
    max_iterations: int = 10**9,
    jobs_per_sub: int = 30,
    sub_time: float = 0.2,
    patience: int = 60,
    history: list[tuple[str, float, int]] | None = None,
    t0: float | None = None,
) -> np.ndarray:
    """Improve a feasible assignment by re-solving a few dozen jobs exactly while the others stay; see the module docstring.

    Three neighbourhoods take turns: jobs drawn at random, jobs drawn from the jobs of half the agents
    (drawn at random), and every job of a few related agents (:func:`_related_agents`); the freed jobs
    may go to any agent with room. Stops after
    ``time_limit`` seconds, ``max_iterations`` sub-problems, or ``patience`` sub-problems in a row without a gain.
    """
    t_start = time.monotonic() if t0 is None else t0
    deadline = time.monotonic() + time_limit
    rng = np.random.default_rng(seed)
    c = _costs(g)
    n, m = g.jobs, g.agents
    x = assign.copy()
    size = max(2, min(jobs_per_sub, n))
    idle = 0
    for it in range(max_iterations):
        if time.monotonic() >= deadline or idle >= patience:
            break
        if it % 3 == 2 and m > 2:
            k = max(2, min(m, round(size * m / n)))
            agents = _related_agents(g, x, int(rng.integers(m)), k, rng, c)
            jobs = np.flatnonzero(np.isin(x, agents))
        elif it % 3 == 1 and m > 3:
            agents = rng.choice(m, size=max(2, m // 2), replace=False)
            pool_j = np.flatnonzero(np.isin(x, agents))
            jobs = rng.choice(pool_j, size=min(size, len(pool_j)), replace=False)
        else:
            jobs = rng.choice(n, size=size, replace=False)
        y, _ = _solve_jobs(g, x, jobs, sub_time, seed * 100003 + it)
        if y is not None:
            x, idle = y, 0
            if history is not None:
                history.append(
                    ("lns", time.monotonic() - t_start, assignment_cost(g, x))
                )
        else:
            idle += 1
    return x


def merge(
    g: GapInstance,
    x: np.ndarray,
    y: np.ndarray,
    *,
    sub_time: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """The best assignment that keeps every job on which ``x`` and ``y`` agree and re-solves the others (any agent).

    Both parents lie in this neighbourhood, so the result costs no more than the cheaper of the two.
    """
    better, other = (x, y) if assignment_cost(g, x) <= assignment_cost(g, y) else (y, x)
    diff = np.flatnonzero(better != other)
    if len(diff) == 0:
        return better.copy()
    z, _ = _solve_jobs(g, better, diff, sub_time, seed)
    return better.copy() if z is None else z


def elite_search(
    g: GapInstance,
    start: np.ndarray,
    *,
    time_limit: float,
    seed: int = 0,
    rounds: int = 10**9,
    pool: int = 4,
    round_time: float = 8.0,
    merge_time: float = 1.0,
    threads: int = 1,
    history: list[tuple[str, float, int]] | None = None,
    t0: float | None = None,
) -> np.ndarray:
    """Rounds of :func:`job_lns` with a new seed each, each local optimum merged with a pool of the best.

    Rounds start from ``start`` until the pool is full, then from the pool's members in turn. A round's local optimum is merged (:func:`merge`) with every pool member, and a merge cheaper than
    both parents is polished by a short :func:`job_lns`; the pool keeps the ``pool`` cheapest distinct
    assignments. ``threads`` rounds (and merges) run at once (CP-SAT releases the GIL); each round's
    result depends only on its seed. Stops after ``time_limit`` seconds or ``rounds`` rounds; returns the
    cheapest assignment seen.
    """
    t_start = time.monotonic() if t0 is None else t0
    deadline = time.monotonic() + time_limit
    elite: list[np.ndarray] = []
    best, best_cost = start.copy(), assignment_cost(g, start)

    def note(z: np.ndarray, phase: str) -> None:
        nonlocal best, best_cost
        cz = assignment_cost(g, z)
        if cz < best_cost:
            best, best_cost = z.copy(), cz
            if history is not None:
                history.append((phase, time.monotonic() - t_start, cz))

    def left() -> float:
        return deadline - time.monotonic()

    with ThreadPoolExecutor(max(1, threads)) as ex:
        r = 0
        while r < rounds and left() > 0.5:
            seeds = [seed + r + t for t in range(min(max(1, threads), rounds - r))]
            r += len(seeds)
            froms = [
                start if len(elite) < pool else elite[(s // 2) % len(elite)]
                for s in seeds
            ]
            ys = list(
                ex.map(
                    lambda sf: job_lns(
                        g,
                        sf[1],
                        time_limit=min(round_time, max(0.0, left())),
                        seed=sf[0],
                    ),
                    zip(seeds, froms),
                )
            )
            for s, y in zip(seeds, ys):
                note(y, "lns")
                if elite and left() > 0:
                    zs = list(
                        ex.map(
                            lambda ke, y=y, s=s: merge(
                                g, y, ke[1], sub_time=merge_time, seed=1000 * s + ke[0]
                            ),
                            enumerate(elite),
                        )
                    )
                    z = min(zs, key=lambda v: assignment_cost(g, v))
                    if assignment_cost(g, z) < min(
                        assignment_cost(g, e) for e in [y, *elite]
                    ):
                        z = job_lns(
                            g,
                            z,
                            time_limit=max(0.0, min(2.0, left())),
                            seed=s,
                            patience=20,
                        )
                        note(z, "merge")
                    if assignment_cost(g, z) < assignment_cost(g, y):
                        y = z
                if not any(np.array_equal(y, e) for e in elite):
                    elite.append(y)
                    elite.sort(key=lambda v: assignment_cost(g, v))
                    del elite[pool:]
    return best


def tabu_pool_search(
    g: GapInstance,
    start: np.ndarray,
    *,
    time_limit: float,
    seed: int = 0,
    rounds: int = 10**9,
    pool: int = 8,
    tabu_time: float = 3.0,
    polish_time: float = 2.0,
    merge_time: float = 1.0,
    lns_time: float = 2.0,
    lns_patience: int = 30,
    lns_steps: int = 20,
    tabu_iterations: int | None = None,
    threads: int = 1,
    history: list[tuple[str, float, int]] | None = None,
    t0: float | None = None,
) -> np.ndarray:
    """A pool of tabu-search optima, recombined by exact merges, each child polished by a tabu search or a job LNS.

    Path relinking over :func:`matcher.gaplocal.tabu_search` and :func:`merge`: first ``pool`` tabu searches
    from ``start`` (seeds ``seed``, ``seed + 1``, ...; ``tabu_time`` seconds each), then rounds of: two
    members drawn at random and merged; the child is polished, by turns of its seed's parity, by a tabu
    search of ``polish_time`` seconds or by :func:`job_lns` (``lns_time`` seconds, ``lns_patience``), and
    takes the place of the worst member when it is cheaper and new. ``threads`` children are made at
    once (the compiled kernel and CP-SAT release the GIL). With ``tabu_iterations`` the tabu searches stop
    after that many iterations (a polish after a fifth of them) and a job LNS after ``lns_steps``
    sub-problems instead of on the clock: the result is then deterministic for a seed and a round count.
    Stops after ``time_limit`` seconds or ``rounds`` children; returns the cheapest assignment seen.
    """
    # numba compiles the kernel on first use: only when this search runs
    from matcher.gaplocal import tabu_search

    t_start = time.monotonic() if t0 is None else t0
    deadline = time.monotonic() + time_limit
    rng = np.random.default_rng(seed)
    best, best_cost = start.copy(), assignment_cost(g, start)

    def left() -> float:
        return deadline - time.monotonic()

    def note(z: np.ndarray, phase: str) -> None:
        nonlocal best, best_cost
        cz = assignment_cost(g, z)
        if cz < best_cost:
            best, best_cost = z.copy(), cz
            if history is not None:
                history.append((phase, time.monotonic() - t_start, cz))

    def tabu(x: np.ndarray, s: int, seconds: float, share: int) -> np.ndarray:
        if tabu_iterations is not None:
            return tabu_search(
                g, x, iterations=max(1, tabu_iterations // share), seed=s
            )
        return tabu_search(g, x, time_limit=max(0.0, min(seconds, left())), seed=s)

    def child(s: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        z = merge(g, a, b, sub_time=merge_time, seed=s)
        if s % 2 == 0:
            return tabu(z, s, polish_time, 5)
        lns_iterations = 10**9 if tabu_iterations is None else lns_steps
        return job_lns(
            g,
            z,
            time_limit=max(0.0, min(lns_time, left())),
            seed=s,
            patience=lns_patience,
            max_iterations=lns_iterations,
        )

    elite: list[np.ndarray] = []

    def admit(z: np.ndarray) -> None:
        if any(np.array_equal(z, e) for e in elite):
            return
        if len(elite) >= pool and assignment_cost(g, z) >= assignment_cost(
            g, elite[-1]
        ):
            return
        elite.append(z)
        elite.sort(key=lambda v: assignment_cost(g, v))
        del elite[pool:]

    with ThreadPoolExecutor(max(1, threads)) as ex:
        firsts = list(
            ex.map(
                lambda s: tabu(start, s, tabu_time, 1), [seed + k for k in range(pool)]
            )
        )
        for z in firsts:
            note(z, "tabu")
            admit(z)
        r = 0
        while r < rounds and left() > 0.5 and len(elite) >= 2:
            k = min(max(1, threads), rounds - r)
            picks = [rng.choice(len(elite), size=2, replace=False) for _ in range(k)]
            seeds = [seed + pool + r + t for t in range(k)]
            r += k
            kids = list(
                ex.map(
                    lambda sp: child(sp[0], elite[sp[1][0]], elite[sp[1][1]]),
                    zip(seeds, picks),
                )
            )
            for z in kids:
                note(z, "pool")
                admit(z)
    return best


def solve_gap(
    g: GapInstance,
    *,
    time_limit: float = 60.0,
    seed: int = 0,
    workers: int = 2,
    deterministic: bool = False,
    probe_share: float = 0.15,
    final_share: float = 0.1,
    cp_gap: float = 0.005,
    lagrangian_iterations: int = 300,
    rounds: int = 10**9,
    search: str = "tabu",
    knapsack_iterations: int = 400,
) -> GapResult:
    """Lagrangian start, a CP-SAT probe, the pool search when CP-SAT is far off, then CP-SAT from the best assignment.

    The probe (``probe_share`` of the time, hint = the Lagrangian start) ends the run when CP-SAT proves
    the instance optimal. When its plan is already within ``cp_gap`` of its proven bound, CP-SAT is
    closing the gap by itself and continues from its plan for the rest of the time; otherwise
    :func:`tabu_pool_search` (``search="tabu"``) or :func:`elite_search` (``search="lns"``) runs until
    ``1 - final_share`` of the time and CP-SAT continues from the best assignment (hint). The returned assignment is the cheapest seen; the bound is the best of CP-SAT's
    proven bounds, the capacity Lagrangian bound and the knapsack Lagrangian bound
    (:func:`matcher.gapbound.knapsack_bound`, ``knapsack_iterations`` subgradient steps, about 0.1-2 s on
    20 x 200), which also ends the run after the probe when it proves the plan at hand optimal.
    """
    t0 = time.monotonic()
    history: list[tuple[str, float, int]] = []
    prob = gap_problem(g)
    if search not in ("tabu", "lns"):
        raise ValueError(f"search must be 'tabu' or 'lns', not {search!r}")
    x, lag_lb, _ = lagrangian_start(g, iterations=lagrangian_iterations, seed=seed)
    best: np.ndarray | None = x
    best_cost = assignment_cost(g, x) if x is not None else None
    if x is not None:
        history.append(("lagrangian", time.monotonic() - t0, int(best_cost or 0)))
    bound = lag_lb
    # the knapsack Lagrangian proves a stronger bound (d20100: 6177 against CP-SAT's 6160 after 60 s); it is
    # kept apart from ``bound`` until the end so that the probe's test below reads CP-SAT's own progress
    upper = float(best_cost) if best_cost is not None else float(g.cost.max(axis=0).sum())
    knap_lb = knapsack_bound(g, upper, iterations=knapsack_iterations)

    def knapsack_proves() -> bool:
        """The plan at hand costs no more than the knapsack bound: it is optimal."""
        return best_cost is not None and best_cost <= knap_lb

    def run_cp(seconds: float, phase: str) -> Solution:
        nonlocal best, best_cost, bound
        hint = assignment_hint(prob, best) if best is not None else None
        sol = solve_problem(
            prob,
            time_limit=max(0.5, seconds),
            seed=seed,
            workers=workers,
            deterministic=deterministic,
            hint=hint,
        )
        if sol.status in ("OPTIMAL", "FEASIBLE"):
            y = assignment_from_chosen(g, prob, sol.chosen)
            cy = assignment_cost(g, y)
            if best_cost is None or cy < best_cost:
                best, best_cost = y, cy
                history.append((phase, time.monotonic() - t0, cy))
            bound = max(bound, math.ceil(sol.bound.get("travel", 0.0) * 10 - 1e-6))
        elif sol.status == "INFEASIBLE":
            raise SolveError(
                f"{g.name}: CP-SAT proved that no assignment fits the capacities"
            )
        return sol

    sol = None if knapsack_proves() else run_cp(probe_share * time_limit, "cp-sat probe")
    start_cost = int(best_cost) if best_cost is not None else 0
    if sol is not None and sol.status != "OPTIMAL" and best is not None and not knapsack_proves():
        closing = best_cost is not None and best_cost - bound <= cp_gap * max(
            1, best_cost
        )
        left = (1.0 - final_share) * time_limit - (time.monotonic() - t0)
        if left > 1.0 and not closing:
            if search == "tabu":
                y = tabu_pool_search(
                    g,
                    best,
                    time_limit=left,
                    seed=seed,
                    rounds=rounds,
                    threads=workers,
                    history=history,
                    t0=t0,
                )
            else:
                y = elite_search(
                    g,
                    best,
                    time_limit=left,
                    seed=seed,
                    rounds=rounds,
                    threads=workers,
                    history=history,
                    t0=t0,
                )
            if assignment_cost(g, y) < int(best_cost or 0):
                best, best_cost = y, assignment_cost(g, y)
        start_cost = int(best_cost or 0)
        sol = run_cp(time_limit - (time.monotonic() - t0), "cp-sat")
    if best is None or best_cost is None:
        raise SolveError(
            f"{g.name}: no feasible assignment found in {time_limit:.0f} s"
        )
    bound = min(max(bound, knap_lb), best_cost)
    return GapResult(
        best,
        best_cost,
        bound,
        "OPTIMAL" if bound == best_cost else "FEASIBLE",
        history,
        lag_lb,
        start_cost,
        sol,
        prob,
        knap_lb,
    )


def assignment_from_chosen(
    g: GapInstance, prob: AssignmentProblem, chosen: np.ndarray
) -> np.ndarray:
    """The assignment (agent per job) of a chosen set of :func:`matcher.gap.gap_problem` pairs."""
    p = prob.pairs[chosen]
    x = np.full(g.jobs, -1, dtype=np.int64)
    x[p["target"].str[1:].astype(int).to_numpy()] = (
        p["helper"].str[1:].astype(int).to_numpy()
    )
    return x
