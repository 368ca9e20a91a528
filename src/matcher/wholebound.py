"""A proven lower bound for a whole province plan: a Lagrangian relaxation of the nested tiers.

The province solver (:mod:`matcher.province`) fixes the top tier first (departments to counties) and
then solves each lower tier exactly given it. This module bounds what any plan could reach, so the
whole plan's gap says how much fixing the top tier first gave up.

The relaxation. Each lower tier is a min-cost flow (helper -> [lead slot] -> target -> sink) whose
coverage is hard (every target at least its required helpers). Dualise every node constraint of the
target side with node potentials ``p`` and keep each helper's "exactly one link": for fixed ``p`` the
problem falls apart into one choice per helper (his cheapest arc at reduced prices ``cost - p[head]``)
and constants. A nested helper's arcs depend on the county his unit gets, so for every (unit, county)
the sum of its helpers' cheapest reduced prices in that county is a cost of the top tier's pair; the
top tier with these costs is a small min-cost flow (units -> counties, every county covered). Its
optimum plus the constants is a lower bound on the weighted objective of every plan (weak duality),
and equals the plan's value when the potentials are the plan's own optimal ones and the top tier's
choice is optimal for the priced costs (the coupling rows of the top tier are dropped: a relaxation).

Lexicographic priorities. With ``w = S_max + 1`` (``S_max`` the largest strength any plan could have),
``W1 = w * match + strength``; the plan's lower-tier flows minimise it given the top tier, so their
potentials exist. ``LB(W1)`` gives the match bound ``ceil((LB(W1) - S_max) / w)`` and the strength bound
``LB(W1) - w * match_plan`` (for plans whose match is no worse). For travel, the potentials of the
travel solve on W1's optimal face are combined with W1's as ``alpha * p1 + p2`` with the smallest
``alpha`` that keeps every reduced cost's sign (``W2 = alpha * W1 + travel``); then the travel bound is
``LB(W2) - alpha * (w * match_plan + strength_plan)``. All figures are exact integers (Python ints
where int64 could overflow); the top-tier flow runs in OR-Tools' exact integer range or no bound is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numba import njit
from ortools.graph.python import min_cost_flow

from matcher import pairarrays, processes, transport

COST_LIMIT = 2**62


@dataclass
class GroupFlow:
    """One solved flow group of a lower tier: its arcs (global helper and target positions) and chosen arcs."""

    helper: np.ndarray
    target: np.ndarray
    lead: np.ndarray
    costs: dict[str, np.ndarray]
    chosen: np.ndarray


@dataclass
class TierFlows:
    """A lower tier's solved groups and what the bound needs of the tier."""

    tier: Any
    tables: pairarrays.TierTables | None
    groups: list[GroupFlow]
    required: np.ndarray
    comp_min: np.ndarray
    lead_helper: np.ndarray
    lead_target: np.ndarray
    supported: bool


@dataclass
class WholeBound:
    """Whole-plan bounds per priority (natural units), or the reason there are none."""

    bounds: dict[str, float] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    alpha: int = 0
    weight: int = 0
    top_choice_optimal: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0
    lb1: int = 0                      # proven lower bound on W1 = weight * match + strength (scaled integers)
    lb2: int = 0                      # proven lower bound on W2 = alpha * W1 + travel
    s_max: int = 0
    scaled: dict[str, int] = field(default_factory=dict)  # the plan's match, strength, travel (scaled integers)
    priced1: np.ndarray | None = None  # per top-tier pair: W1 of the pair plus its nested helpers' priced W1 (None: blocked)
    priced2: np.ndarray | None = None  # per top-tier pair: the same for W2
    priced1u: np.ndarray | None = None  # priced1 without the per-unit capacity (its helpers' cheapest targets)

    alone: dict[str, int] = field(default_factory=dict)  # per priority: its bound with no earlier priority held
    const1: int = 0                   # the lower tiers' part of lb1 that does not depend on the top tier
    const2: int = 0                   # the same for lb2
    lb2_within: tuple[int, int] | None = None  # (W1 limit, bound on W2) for plans whose W1 is within the limit
    alone_extra1: np.ndarray | None = None  # per top-tier pair: exact W1 minus priced W1 when its unit is alone there
    alone_blocked: np.ndarray | None = None  # per top-tier pair: its unit cannot be the county's only one

    def bounds_for(self, m_hat: int, s_hat: int, t_hat: int) -> dict[str, int]:
        """Scaled bounds on match, strength, travel for plans no worse than (m_hat, s_hat) in the earlier priorities."""
        w, a = self.weight, self.alpha
        lb2 = self.lb2
        if self.lb2_within is not None and w * m_hat + s_hat <= self.lb2_within[0]:
            lb2 = max(lb2, self.lb2_within[1])
        held = {"match": -((self.s_max - self.lb1) // w), "strength": self.lb1 - w * m_hat,
                "travel": lb2 - a * (w * m_hat + s_hat)}
        value = {"match": m_hat, "strength": s_hat, "travel": t_hat}
        return {k: min(value[k], max(0, held[k], self.alone.get(k, 0))) for k in held}


@njit(cache=True, nogil=True)
def _settle_rounds(n_nodes: int, tails: np.ndarray, heads: np.ndarray, lo: np.ndarray, up: np.ndarray,
                   flow: np.ndarray, cost: np.ndarray, arcs: np.ndarray) -> tuple[np.ndarray, bool]:
    """Shortest distances in a flow's residual graph from a root joined to every node at cost 0; (distances, settled).

    Each arc ``a`` with ``arcs[a]`` gives a forward residual arc (tail -> head, cost) while its flow is
    below ``up`` and a backward one (head -> tail, -cost) while it is above ``lo``. Bellman-Ford rounds
    relax every residual arc in place; with no negative cycle the distances settle within ``n_nodes``
    rounds (they are the unique shortest distances, whatever the order of relaxation).
    """
    dist = np.zeros(n_nodes, dtype=np.int64)
    for _ in range(n_nodes + 1):
        changed = False
        for a in range(len(tails)):
            if not arcs[a]:
                continue
            t, h, c = tails[a], heads[a], cost[a]
            if flow[a] < up[a] and dist[t] + c < dist[h]:
                dist[h] = dist[t] + c
                changed = True
            if flow[a] > lo[a] and dist[h] - c < dist[t]:
                dist[t] = dist[h] - c
                changed = True
        if not changed:
            return dist, True
    return dist, False


@njit(cache=True, nogil=True)
def _settle_queue(n_nodes: int, tails: np.ndarray, heads: np.ndarray, lo: np.ndarray, up: np.ndarray,
                  flow: np.ndarray, cost: np.ndarray, arcs: np.ndarray) -> tuple[np.ndarray, bool]:
    """The distances of :func:`_settle_rounds`, label-correcting: each phase scans only the nodes whose distance fell in the last.

    The residual arcs are first listed by their start node (a counting sort). Phase k settles every
    shortest path of k arcs, as Bellman-Ford's round k does, so with no negative cycle the distances
    settle within ``n_nodes`` phases. Faster than whole rounds when ``arcs`` is a small part of the arcs
    (an optimal face); slower on all of a tier's arcs, where most nodes move in most phases.
    """
    n = len(tails)
    start = np.zeros(n_nodes + 1, dtype=np.int64)
    for a in range(n):
        if arcs[a]:
            if flow[a] < up[a]:
                start[tails[a] + 1] += 1
            if flow[a] > lo[a]:
                start[heads[a] + 1] += 1
    for v in range(n_nodes):
        start[v + 1] += start[v]
    out = np.empty(start[n_nodes], dtype=np.int64)
    fill = start[:-1].copy()
    for a in range(n):
        if arcs[a]:
            if flow[a] < up[a]:
                out[fill[tails[a]]] = 2 * a
                fill[tails[a]] += 1
            if flow[a] > lo[a]:
                out[fill[heads[a]]] = 2 * a + 1
                fill[heads[a]] += 1
    dist = np.zeros(n_nodes, dtype=np.int64)
    queued = np.ones(n_nodes, dtype=np.bool_)
    cur = np.arange(n_nodes).astype(np.int64)
    nxt = np.empty(n_nodes, dtype=np.int64)
    n_cur = n_nodes
    for _ in range(n_nodes + 1):
        if n_cur == 0:
            return dist, True
        n_nxt = 0
        for i in range(n_cur):
            u = cur[i]
            queued[u] = False
            du = dist[u]
            for j in range(start[u], start[u + 1]):
                e = out[j]
                a = e >> 1
                if e & 1 == 0:
                    v = heads[a]
                    nd = du + cost[a]
                else:
                    v = tails[a]
                    nd = du - cost[a]
                if nd < dist[v]:
                    dist[v] = nd
                    if not queued[v]:
                        queued[v] = True
                        nxt[n_nxt] = v
                        n_nxt += 1
        cur, nxt = nxt, cur
        n_cur = n_nxt
    return dist, False


QUEUE_SHARE = 0.5
"""Share of a flow's arcs up to which :func:`residual_distances` settles by phases of changed nodes (else whole rounds).

Measured on Guizhou's village tier (9.7 M arcs): on all arcs whole rounds 0.68 s, phases 0.92 s; on the
optimal face of match and strength (travel's potentials) rounds 0.88 s, phases 0.29 s.
"""


def residual_distances(n_nodes: int, tails: np.ndarray, heads: np.ndarray, lo: np.ndarray, up: np.ndarray,
                       flow: np.ndarray, cost: np.ndarray, arcs: np.ndarray) -> np.ndarray:
    """Node potentials proving a flow optimal: shortest distances from a root in its residual graph (restricted to ``arcs``).

    Source: min-cost flow optimality (no negative residual cycle <=> potentials with non-negative reduced
    costs). A flow that is not optimal has a negative residual cycle and never settles: ValueError.
    """
    # integer arrays keep their own dtype (no int64 copies of the province's arcs): numba compiles per dtype
    ints = [np.ascontiguousarray(x if np.asarray(x).dtype.kind in "iu" else np.asarray(x, dtype=np.int64))
            for x in (tails, heads, lo, up, flow)]
    arcs = np.ascontiguousarray(arcs, dtype=np.bool_)
    settle = _settle_queue if arcs.sum() <= QUEUE_SHARE * len(arcs) else _settle_rounds
    dist, settled = settle(n_nodes, *ints, np.ascontiguousarray(cost, dtype=np.int64), arcs)
    if not settled:
        raise ValueError("negative residual cycle: the flow is not optimal for these costs")
    return dist


@dataclass
class _TierNet:
    """A lower tier's network with hard coverage, the plan's flow, and the two potentials."""

    n_helpers: int
    n_targets: int
    tails: np.ndarray
    heads: np.ndarray
    lo: np.ndarray
    up: np.ndarray
    flow: np.ndarray
    n_pairs: int
    pair_helper: np.ndarray
    c1: np.ndarray
    c2: np.ndarray
    costs: dict[str, np.ndarray] = field(default_factory=dict)  # the pair arcs' match, strength, travel
    chosen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    p1: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    p2: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    alpha: int = 0

    def drop_arcs(self) -> None:
        """Free the arc arrays and the plan's flow; keep the sizes, the potentials and alpha."""
        empty = np.zeros(0, dtype=np.int64)
        self.tails = self.heads = self.lo = self.up = self.flow = self.c1 = self.c2 = empty
        self.pair_helper = self.chosen = empty
        self.costs = {}

    def lead_node(self, t: np.ndarray) -> np.ndarray:
        return 1 + self.n_helpers + t

    def target_node(self, t: np.ndarray) -> np.ndarray:
        return 1 + self.n_helpers + self.n_targets + t


def _tier_net(tf: TierFlows, w: int) -> _TierNet:
    """The tier's network (sink 0, helpers, lead slots, targets) carrying the plan's chosen links.

    The groups' arrays are moved into the network (``tf.groups`` is emptied) to keep one copy in memory.
    """
    tier = tf.tier
    n_h, n_t = len(tf.tables.helpers), len(tf.tables.targets)
    hp = np.concatenate([g.helper for g in tf.groups])
    tp = np.concatenate([g.target for g in tf.groups])
    lead = np.concatenate([g.lead for g in tf.groups])
    ch = np.concatenate([g.chosen for g in tf.groups])
    m = np.concatenate([g.costs["match"] for g in tf.groups])
    s = np.concatenate([g.costs["strength"] for g in tf.groups])
    tr = np.concatenate([g.costs["travel"] for g in tf.groups])
    tf.groups = []
    net = _TierNet(n_h, n_t, np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), len(hp), hp,
                   np.zeros(0), np.zeros(0))
    tmax = int(tier.coverage_max)
    ti = np.arange(n_t)
    n_at = np.bincount(tp[ch], minlength=n_t)
    n_lead = np.bincount(tp[ch & lead], minlength=n_t)
    req = np.minimum(tf.required, tmax)
    i32 = np.int32
    n_p, n_a = len(hp), len(hp) + 2 * n_t
    # written in place, part by part: whole-tier temporaries cost about 0.4 s on Guizhou's 9.7 M arcs
    net.tails = np.empty(n_a, dtype=i32)
    np.add(hp, 1, out=net.tails[:n_p], casting="unsafe")
    net.tails[n_p:n_p + n_t] = net.lead_node(ti)
    net.tails[n_p + n_t:] = net.target_node(ti)
    net.heads = np.empty(n_a, dtype=i32)
    np.add(tp, 1 + n_h + n_t, out=net.heads[:n_p], casting="unsafe")  # target_node(tp)
    np.subtract(net.heads[:n_p], n_t, out=net.heads[:n_p], where=lead)  # lead_node(tp) for a lead arc
    net.heads[n_p:n_p + n_t] = net.target_node(ti)
    net.heads[n_p + n_t:] = 0
    net.lo = np.zeros(n_a, dtype=i32)
    net.lo[n_p:n_p + n_t] = tf.comp_min
    net.lo[n_p + n_t:] = req
    net.up = np.full(n_a, tmax, dtype=i32)
    net.up[:n_p] = 1
    net.flow = np.empty(n_a, dtype=i32)
    net.flow[:n_p] = ch
    net.flow[n_p:n_p + n_t] = n_lead
    net.flow[n_p + n_t:] = n_at
    net.c1 = np.zeros(n_a, dtype=np.int64)
    np.multiply(m, w, out=net.c1[:n_p])
    net.c1[:n_p] += s
    net.c2 = np.zeros(n_a, dtype=np.int64)
    net.c2[:n_p] = tr
    net.pair_helper = hp
    net.costs = {"match": m, "strength": s, "travel": tr}
    net.chosen = ch
    return net


def _potentials(net: _TierNet) -> str:
    """Both potentials and alpha for a tier's network ('' or why the plan's flow does not admit them)."""
    n_nodes = 1 + net.n_helpers + 2 * net.n_targets
    if ((net.flow < net.lo) | (net.flow > net.up)).any():
        return "a lower tier's plan leaves a target short (coverage is not full)"
    allarcs = np.ones(len(net.tails), dtype=bool)
    try:
        p1 = residual_distances(n_nodes, net.tails, net.heads, net.lo, net.up, net.flow, net.c1, allarcs)
    except ValueError:
        return "a lower tier's flow is not optimal for match and strength"
    p1 = p1 - p1[0]
    face = _zero_reduced(net.tails, net.heads, net.c1, p1)
    try:
        p2 = residual_distances(n_nodes, net.tails, net.heads, net.lo, net.up, net.flow, net.c2, face)
    except ValueError:
        return "a lower tier's flow is not optimal for travel on the optimal face of match and strength"
    p2 = p2 - p2[0]
    net.p1, net.p2, net.alpha = p1, p2, int(_least_alpha(net.tails, net.heads, net.c1, p1, net.c2, p2))
    return ""


@njit(cache=True, nogil=True)
def _zero_reduced(tails: np.ndarray, heads: np.ndarray, cost: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per arc: its reduced cost ``cost + p[tail] - p[head]`` is 0 (the optimal face of the first stage)."""
    out = np.empty(len(tails), dtype=np.bool_)
    for a in range(len(tails)):
        out[a] = cost[a] + p[tails[a]] - p[heads[a]] == 0
    return out


@njit(cache=True, nogil=True)
def reduced_signs(tails: np.ndarray, heads: np.ndarray, cost: np.ndarray, p: np.ndarray, arcs: np.ndarray) -> np.ndarray:
    """Per arc: the sign (-1, 0, 1) of its reduced cost ``cost + p[tail] - p[head]``; 0 where ``arcs`` is False."""
    out = np.zeros(len(tails), dtype=np.int8)
    for a in range(len(tails)):
        if arcs[a]:
            r = cost[a] + p[tails[a]] - p[heads[a]]
            out[a] = 1 if r > 0 else (-1 if r < 0 else 0)
    return out


@njit(cache=True, nogil=True)
def _least_alpha(tails: np.ndarray, heads: np.ndarray, c1: np.ndarray, p1: np.ndarray, c2: np.ndarray,
                 p2: np.ndarray) -> int:
    """The least alpha >= 0 for which ``alpha * rc1 + rc2`` has the sign of rc1 wherever rc1 is not 0 (rc: reduced costs).

    Source: combining the two stages' potentials as ``alpha * p1 + p2`` keeps the plan's flow optimal for
    W2 = alpha * W1 + travel (module docstring); ceil(-rc2 / rc1) where the signs differ.
    """
    alpha = 0
    for a in range(len(tails)):
        r1 = c1[a] + p1[tails[a]] - p1[heads[a]]
        r2 = c2[a] + p2[tails[a]] - p2[heads[a]]
        if r1 > 0 and r2 < 0:
            alpha = max(alpha, -(r2 // r1))  # ceil(-r2 / r1)
        elif r1 < 0 and r2 > 0:
            alpha = max(alpha, -((-r2) // (-r1)))  # ceil(r2 / -r1)
    return alpha


def _side_by_target(net: _TierNet, alpha: int, stage: int) -> np.ndarray:
    """Per target: its side arcs' part of the Lagrangian, lo * rc + (up - lo) * min(0, rc) (Python ints).

    Source: the dualised node constraints of a lower tier's target side (each target's lead and sink arcs)
    """
    a = np.arange(net.n_pairs, len(net.tails))
    rc1 = (net.c1[a] + net.p1[net.tails[a]] - net.p1[net.heads[a]]).astype(object)
    rc = rc1 if stage == 1 else alpha * rc1 + (net.c2[a] + net.p2[net.tails[a]] - net.p2[net.heads[a]]).astype(object)
    lo = net.lo[a].astype(object)
    up = net.up[a].astype(object)
    part = lo * rc + (up - lo) * np.minimum(0, rc)
    return part[:net.n_targets] + part[net.n_targets:]  # lead arc + sink arc of each target


def _side_constant(net: _TierNet, alpha: int, stage: int) -> int:
    """The target side's part of the Lagrangian: the sum of :func:`_side_by_target`."""
    return int(sum(_side_by_target(net, alpha, stage)))


def _one_each_flow(n_left: int, n_right: int, left: np.ndarray, right: np.ndarray, cost: np.ndarray, lo: np.ndarray,
                   up: np.ndarray) -> np.ndarray | None:
    """Min-cost choice of one arc per left node with every right node between lo and up arcs (used arcs; None: none).

    Source: the shape of the bound's top tier (units -> counties): an exact OR-Tools min-cost flow
    """
    mcf = min_cost_flow.SimpleMinCostFlow()
    arcs = mcf.add_arcs_with_capacity_and_unit_cost((1 + left).astype(np.int32), (1 + n_left + right).astype(np.int32),
                                                    np.ones(len(left), dtype=np.int64), np.asarray(cost, dtype=np.int64))
    ri = np.arange(n_right)
    mcf.add_arcs_with_capacity_and_unit_cost((1 + n_left + ri).astype(np.int32), np.zeros(n_right, dtype=np.int32),
                                             np.maximum(up - lo, 0).astype(np.int64), np.zeros(n_right, dtype=np.int64))
    for h in range(n_left):
        mcf.set_node_supply(1 + h, 1)
    for t in range(n_right):
        mcf.set_node_supply(1 + n_left + t, -int(lo[t]))
    mcf.set_node_supply(0, -(n_left - int(lo.sum())))
    if mcf.solve() != mcf.OPTIMAL:
        return None
    return mcf.flows(arcs) > 0


def _priced(c1: np.ndarray, c2: np.ndarray, p1_head: np.ndarray, p2_head: np.ndarray, alpha: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Reduced prices of helper arcs for both stages: cost minus the head's potential (int64, range checked)."""
    r1 = c1 - p1_head
    r2 = c2 - p2_head
    big = np.abs(r1).max(initial=0)
    if alpha and big > (2**62) // max(alpha, 1):
        raise OverflowError("reduced prices out of the exact integer range")
    return r1, alpha * r1 + r2


@njit(cache=True, nogil=True)
def _class_problem(j0: int, j1: int, cls: np.ndarray, cnt: np.ndarray, r_start: np.ndarray, r_end: np.ndarray,
                   tloc: np.ndarray, price: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The transportation problem of classes cls[j0:j1]: (supply, row, column, cost less the class's least, that least's total)."""
    n_arcs = 0
    for j in range(j0, j1):
        n_arcs += r_end[cls[j]] - r_start[cls[j]]
    supply = np.empty(j1 - j0, dtype=np.int64)
    row = np.empty(n_arcs, dtype=np.int64)
    col = np.empty(n_arcs, dtype=np.int64)
    cost = np.empty(n_arcs, dtype=np.int64)
    base = 0
    k = 0
    for j in range(j0, j1):
        r = cls[j]
        least = price[r_start[r]]
        for a in range(r_start[r], r_end[r]):
            least = min(least, price[a])
        supply[j - j0] = cnt[j]
        base += least * cnt[j]
        for a in range(r_start[r], r_end[r]):
            row[k], col[k], cost[k] = j - j0, tloc[a], price[a] - least
            k += 1
    return supply, row, col, cost, base


@njit(cache=True, nogil=True)
def _unit_transports(u_ptr: np.ndarray, cls: np.ndarray, cnt: np.ndarray, r_start: np.ndarray, r_end: np.ndarray,
                     tloc: np.ndarray, q1: np.ndarray, c1: np.ndarray, lo: np.ndarray, up: np.ndarray, alone: bool
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per unit (its classes cls[u_ptr[u]:u_ptr[u+1]] of cnt alike helpers): the capacitated least ``q1`` and the exact alone ``c1``.

    Source: a unit's helpers in one county, each placed once: at most ``up`` of them at a target (the
    shared capacity, relaxed to the unit alone), and, alone in the county, every target between ``lo``
    and ``up`` (:func:`matcher.transport.least_transport`). When every class's first cheapest target
    holds its members, that choice is the capacitated optimum. Returns (status, value) twice; a unit
    with a class without pairs gets status -1.
    """
    n_u = len(u_ptr) - 1
    cap_st = np.zeros(n_u, dtype=np.int64)
    cap_val = np.zeros(n_u, dtype=np.int64)
    al_st = np.full(n_u, -1, dtype=np.int64)
    al_val = np.zeros(n_u, dtype=np.int64)
    at = np.zeros(len(up), dtype=np.int64)
    none = np.zeros(len(up), dtype=np.int64)
    for u in range(n_u):
        j0, j1 = u_ptr[u], u_ptr[u + 1]
        empty = False
        at[:] = 0
        cheapest = 0  # every member at his class's first cheapest target
        for j in range(j0, j1):
            r = cls[j]
            if r_end[r] == r_start[r]:
                empty = True
                break
            best = r_start[r]
            for a in range(r_start[r] + 1, r_end[r]):
                if q1[a] < q1[best]:
                    best = a
            at[tloc[best]] += cnt[j]
            cheapest += q1[best] * cnt[j]
        if empty:
            cap_st[u] = -1
            continue
        fits = True
        for t in range(len(up)):
            if at[t] > up[t]:
                fits = False
        if fits:
            cap_st[u], cap_val[u] = transport.OPTIMAL, cheapest
        else:
            supply, row, col, cost, base = _class_problem(j0, j1, cls, cnt, r_start, r_end, tloc, q1)
            st, v = transport.least_transport(supply, row, col, cost, none, up)
            cap_st[u], cap_val[u] = st, v + base
        if alone:
            supply, row, col, cost, base = _class_problem(j0, j1, cls, cnt, r_start, r_end, tloc, c1)
            st, v = transport.least_transport(supply, row, col, cost, lo, up)
            al_st[u], al_val[u] = st, v + base
    return cap_st, cap_val, al_st, al_val


@njit(cache=True, nogil=True)
def _least_into(out: np.ndarray, helper: np.ndarray, values: np.ndarray) -> None:
    """``out[h] = min(out[h], v)`` for every (h, v) of ``helper``, ``values`` (np.minimum.at in one compiled pass)."""
    for a in range(len(helper)):
        if values[a] < out[helper[a]]:
            out[helper[a]] = values[a]


def _least_by(out: np.ndarray, helper: np.ndarray, values: np.ndarray) -> None:
    """Lower ``out`` (int64) to the least value of each helper's arcs."""
    _least_into(out, np.ascontiguousarray(helper, dtype=np.int64), np.ascontiguousarray(values, dtype=np.int64))


def _per_helper_min(helper: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Smallest value per helper (int64 max where the helper has no arc)."""
    out = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    if len(helper) and (helper[1:] >= helper[:-1]).all():  # sorted (pairs in helper order): one reduction per run
        starts = np.flatnonzero(np.r_[True, helper[1:] != helper[:-1]])
        out[helper[starts]] = np.minimum.reduceat(np.asarray(values, dtype=np.int64), starts)
    else:
        _least_by(out, helper, values)
    return out


def _top_flow(units: np.ndarray, counties: np.ndarray, cost: list[int], n_units: int, n_counties: int,
              req: np.ndarray, cmax: int) -> tuple[int, np.ndarray] | None:
    """Units to counties, one county per unit, every county between its required count and cmax: min cost (exact).

    Source: Guizhou 2012 帮联驻 部门帮县 (every county helped; the coupling rows are left out: a relaxation)
    """
    if not len(units):
        return None
    mins: dict[int, int] = {}
    for u, c in zip(units.tolist(), cost):
        mins[u] = c if u not in mins else min(mins[u], c)
    shifted = [c - mins[u] for u, c in zip(units.tolist(), cost)]
    n_nodes = 1 + n_units + n_counties
    if max(shifted, default=0) * (n_nodes + 1) * 4 >= COST_LIMIT:
        return None
    flows = _one_each_flow(n_units, n_counties, units, counties, np.array(shifted, dtype=np.int64), req,
                           np.full(n_counties, cmax))
    if flows is None:
        return None
    value = sum(s for s, f in zip(shifted, flows.tolist()) if f) + sum(mins.values())
    return value, flows


def _max_strength(tt: pairarrays.TierTables, helpers: np.ndarray) -> np.ndarray:
    """Largest strength cost each helper could have at any target of the tier (an upper bound for S_max)."""
    if not len(helpers) or not len(tt.targets):
        return np.zeros(len(helpers), dtype=np.int64)
    reps = pd.Series(np.arange(len(tt.targets))).groupby(tt.t_pcode).first().to_numpy()
    best = np.zeros(len(helpers), dtype=np.int64)
    for t in reps:
        vals = pairarrays._strength_values(tt, helpers, np.full(len(helpers), t))
        best = np.maximum(best, pairarrays.int_cost(vals, tt.ctx, "strength"))
    return best


@dataclass
class _Nested:
    """A lower tier's helpers nested in the top tier's units: what each county's job of the bound reads."""

    tf: TierFlows
    net: _TierNet
    npos: np.ndarray                  # the nested helpers' positions in the tier
    unit_code: np.ndarray             # each nested helper's unit (position in the top tier's units)
    members: dict[int, np.ndarray]    # per unit: its helpers' places in npos
    side1: np.ndarray | None          # per target: W1's side constant (None: no exact alone value in this tier)
    n_units: int
    w: int
    alpha: int
    pair_at: dict[tuple[int, int], int]  # (unit, county) -> top-tier pair


@dataclass
class _CountyPart:
    """One (tier, county) job's contributions to the top tier's priced pairs."""

    rows: list[tuple[int, int, int, int, int, int, int, int]] = field(default_factory=list)
    """(pair, W1 uncapacitated, W1, W2, match alone, strength alone, travel alone, exact-alone extra)"""
    blocked: list[int] = field(default_factory=list)        # pairs no plan can choose
    alone_blocked: list[int] = field(default_factory=list)  # pairs whose unit cannot be the county's only one
    reason: str = ""                                         # why no bound (an internal inconsistency)


def _free_helper_terms(net: _TierNet, free: np.ndarray, n_h: int, alpha: int) -> tuple[int, int, dict[str, int]] | None:
    """The Lagrangian terms of helpers outside the top tier's units: each at his cheapest reduced price (None: one has no arc).

    Source: Lagrangian relaxation of the nested tiers; a helper whose unit the top tier does not place
    (a county's own staff) has the same arcs whatever the top tier chooses, so his term is a constant.
    Returns the W1 and W2 constants and, per priority, the constant with potentials 0 (each priority alone).
    """
    terms = ("match", "strength", "travel")
    m1 = np.full(n_h, np.iinfo(np.int64).max, dtype=np.int64)
    m2 = m1.copy()
    m0 = {k: m1.copy() for k in terms}
    for lo in range(0, net.n_pairs, BLOCK_PAIRS):  # in slices: whole-tier temporaries would cost 0.4 GiB on Guizhou
        at = slice(lo, min(lo + BLOCK_PAIRS, net.n_pairs))
        hp, heads = net.pair_helper[at], net.heads[at]
        r1, r2 = _priced(net.c1[at], net.c2[at], net.p1[heads], net.p2[heads], alpha)
        _least_by(m1, hp, r1)
        _least_by(m2, hp, r2)
        for k in terms:
            _least_by(m0[k], hp, net.costs[k][at])
    if (m1[free] == np.iinfo(np.int64).max).any():
        return None
    total = lambda v: sum(v[free].tolist())
    return total(m1), total(m2), {k: total(m0[k]) for k in terms}


BLOCK_PAIRS = 1_000_000
"""Grid pairs (helpers x targets) a county job builds at once: it prices the county's units in blocks of this size."""


def _unit_blocks(members: dict[int, np.ndarray], n_targets: int) -> list[list[int]]:
    """The units in order, cut into runs whose helpers times ``n_targets`` stay within BLOCK_PAIRS (a larger unit alone)."""
    blocks: list[list[int]] = []
    size = 0
    for u, mine in members.items():
        if not blocks or size + len(mine) * n_targets > BLOCK_PAIRS:
            blocks.append([])
            size = 0
        blocks[-1].append(u)
        size += len(mine) * n_targets
    return blocks


def _county_part(nt: _Nested, c: int, tpos: np.ndarray) -> _CountyPart:
    """Price every unit's nested helpers in county ``c`` at the tier's potentials (one term per top-tier pair).

    Source: Lagrangian relaxation of the nesting (部门帮县 -> 处长联乡/干部驻村): a unit's helpers may only
    go to its county, so their cheapest reduced prices there are a cost of the (unit, county) pair.
    The units are priced in blocks (BLOCK_PAIRS), each block's candidate pairs built at once.
    """
    tf = nt.tf
    out = _CountyPart()
    t_lo = np.minimum(np.asarray(tf.required)[tpos], int(tf.tier.coverage_max))
    if nt.side1 is not None and t_lo.sum() > 0:
        for u in sorted(set(range(nt.n_units)) - set(nt.members)):
            i = nt.pair_at.get((u, c))
            if i is not None:  # a unit without helpers in this tier cannot cover alone
                out.alone_blocked.append(i)
    for block in _unit_blocks(nt.members, len(tpos)):
        if any(nt.pair_at.get((u, c)) is not None for u in block):
            _price_units(nt, c, tpos, t_lo, block, out)
            if out.reason:
                break
    return out


def _price_units(nt: _Nested, c: int, tpos: np.ndarray, t_lo: np.ndarray, block: list[int], out: _CountyPart) -> None:
    """Price the helpers of the units in ``block`` in county ``c``: one row (or a blocked pair) per unit, added to ``out``.

    Source: Lagrangian relaxation of the nesting (a unit's cheapest reduced prices in the county, with
    the targets' capacity for its helpers alone, and its exact value where it would be alone there)

    Helpers of a unit whose candidate pairs in the county are the same (pairarrays.alike_helpers: same
    profile, rank, seat, lead flag, and no home there to avoid) are priced once, by one representative,
    and each member gets the representative's pairs: the figures are those of pricing every helper.
    """
    tf, net, w, alpha = nt.tf, nt.net, nt.w, nt.alpha
    tmax = int(tf.tier.coverage_max)
    sel = np.sort(np.concatenate([nt.members[u] for u in block]))  # places in npos, in helper order
    hsel = nt.npos[sel]
    extra = nt.unit_code[sel] * 2 + tf.lead_helper[hsel]
    reps, rep_of = pairarrays.alike_helpers(tf.tables, hsel, tpos, extra)
    b = pairarrays.chunk_pairs(tf.tables, reps, tpos)
    lead = tf.lead_helper[b.helper] & tf.lead_target[b.target]
    head = np.where(lead, net.lead_node(b.target), net.target_node(b.target))
    c1 = w * b.costs["match"] + b.costs["strength"]
    q1, q2 = _priced(c1, b.costs["travel"], net.p1[head], net.p2[head], alpha)
    rloc = np.searchsorted(reps, b.helper)  # each pair's representative (0..)
    r_start = np.searchsorted(rloc, np.arange(len(reps)))
    r_end = np.searchsorted(rloc, np.arange(len(reps)), side="right")
    r1 = _per_helper_min(rloc, q1, len(reps))
    r2 = _per_helper_min(rloc, q2, len(reps))
    r0 = [_per_helper_min(rloc, b.costs[k], len(reps)) for k in ("match", "strength", "travel")]
    place = np.full(len(nt.npos), -1, dtype=np.int64)  # npos place -> its representative
    place[sel] = rep_of
    side_here = int(sum(nt.side1[tpos])) if nt.side1 is not None else 0  # the county's targets' side constant
    units = [u for u in block if nt.pair_at.get((u, c)) is not None]
    if not units:
        return
    # each unit's classes: its representatives, each with its number of members (sorted by unit, then representative)
    sizes = np.array([len(nt.members[u]) for u in units], dtype=np.int64)
    key = np.repeat(np.arange(len(units)), sizes) * len(reps) + place[np.concatenate([nt.members[u] for u in units])]
    ukey, cnt = np.unique(key, return_counts=True)
    cls, u_ptr = ukey % len(reps), np.searchsorted(ukey // len(reps), np.arange(len(units) + 1))
    cnt = cnt.astype(np.int64)
    huge = np.iinfo(np.int64).max
    bigs = [np.abs(v[v != huge]).max(initial=0) for v in (q1, q2, c1, *(b.costs[k] for k in ("match", "strength", "travel")))]
    if max(int(x) for x in bigs) * 4 * int(sizes.max()) >= 2**62:
        out.reason = f"tier '{tf.tier.id}': reduced prices out of the exact integer range"
        return
    up = np.full(len(tpos), tmax, dtype=np.int64)
    tloc = np.searchsorted(tpos, b.target)  # each pair's target, 0.. in the county
    cap_st, cap_val, al_st, al_val = _unit_transports(u_ptr, cls, cnt, r_start, r_end, tloc, q1, c1,
                                                      np.asarray(t_lo, dtype=np.int64), up, nt.side1 is not None)
    sums = [np.add.reduceat(np.where(v[cls] == huge, 0, v[cls]) * cnt, u_ptr[:-1]).tolist() for v in (r1, r2, *r0)]
    for k, u in enumerate(units):
        i = nt.pair_at[(u, c)]
        if cap_st[k] == -1:  # a helper without a pair in the county
            out.blocked.append(i)
            continue
        if cap_st[k] == transport.INFEASIBLE:  # the unit's helpers do not fit in the county's targets: no plan gives it the county
            out.blocked.append(i)
            continue
        plain = sums[0][k]
        # out of the transport's exact range: the uncapacitated figure stands
        priced_here = max(int(cap_val[k]), plain) if cap_st[k] == transport.OPTIMAL else plain
        extra_w1 = 0
        if al_st[k] == transport.INFEASIBLE:
            out.alone_blocked.append(i)
        elif al_st[k] == transport.OPTIMAL:
            extra_w1 = int(al_val[k]) - side_here - priced_here
            if extra_w1 < 0:
                out.reason = f"internal: tier '{tf.tier.id}': exact value below its Lagrangian bound"
                return
        out.rows.append((i, plain, priced_here, sums[1][k], sums[2][k], sums[3][k], sums[4][k], extra_w1))


PROCESSES = 2
"""Processes that price the (unit, county) pairs of the bound (at most ``workers``); 1 prices them here.

The county jobs are independent and the parent merges them in a fixed order, so the bound does not
depend on the number of processes. Each forked worker reads the parent's arrays without copying them
and holds one county's candidate pairs at a time.
"""

PARALLEL_MIN_PAIRS = 1_000_000
"""Estimated candidate pairs (nested helpers x targets, summed over the jobs) below which the jobs run here."""

def _county_parts(jobs: list[tuple[_Nested, int, np.ndarray]], workers: int) -> list[_CountyPart]:
    """Every county job's part, in the jobs' order; large bounds use forked processes (PROCESSES).

    Source: the jobs share nothing they write, and each is the same deterministic code wherever it runs.
    Largest jobs go first, one at a time, so the two processes end together.
    """
    sizes = [len(nt.npos) * len(tpos) for nt, _, tpos in jobs]
    n_proc = min(PROCESSES, int(workers)) if sum(sizes) >= PARALLEL_MIN_PAIRS else 1
    return processes.map_largest_first(_county_part, jobs, sizes, n_proc)


def top_tier_reason(top: Any, top_pairs: pd.DataFrame) -> str:
    """Why the top tier admits no whole-plan bound ('' when it does): one target per unit, no incumbents.

    Source: the relaxation of the module docstring re-chooses every unit's one county freely
    """
    if not (top.links_min == top.links_max == 1) or top.helpers.table != "units":
        return "the top tier does not link each unit to exactly one target"
    if top_pairs["pinned"].any() or top_pairs["continues"].any():
        return "the top tier has incumbents (pinned or continuing pairs)"
    return ""


def whole_plan_bound(ctx: Any, top: Any, top_pairs: pd.DataFrame, top_allowed: np.ndarray, chosen_top: np.ndarray,
                     top_targets: pd.DataFrame, top_required: np.ndarray, lower: list[TierFlows], *,
                     workers: int = 1) -> WholeBound:
    """Lower bounds on match, strength and travel over every plan of the province (see the module docstring).

    Source: Lagrangian relaxation of the nested tiers (部门帮县 -> 处长联乡/干部驻村) with the lower tiers'
    own optimal node potentials; weak duality makes every figure a proven bound. ``workers`` caps the
    processes that price the (unit, county) pairs (see PROCESSES); the figures do not depend on it.
    """
    import time

    t0 = time.monotonic()
    out = WholeBound()
    out.reason = top_tier_reason(top, top_pairs)
    if out.reason:
        return out
    order = [t for t in ctx.scheme.objective.order if t in ("match", "strength", "travel")]
    if order != ["match", "strength", "travel"]:
        out.reason = f"the priorities {order} are not in the order match, strength, travel that the flows use"
        return out
    for tf in lower:
        if not tf.supported or tf.tier.links_max != 1 or tf.tier.nest_in not in ("", top.id):
            out.reason = f"tier '{tf.tier.id}' is not a plain one-link flow nested in the top tier"
            return out
    level = str(dict(top.targets.columns).get("level", ("county",))[0])
    units = pd.Index(sorted(set(top_pairs["helper"].astype(str))))
    counties = pd.Index(top_targets.index.astype(str))
    u_of = units.get_indexer(top_pairs["helper"].astype(str))
    c_of = counties.get_indexer(top_pairs["target"].astype(str))
    tm = pairarrays.int_cost(top_pairs["cost_match"].to_numpy(dtype=float), ctx, "match")
    ts = pairarrays.int_cost(top_pairs["cost_strength"].to_numpy(dtype=float), ctx, "strength")
    tt_ = pairarrays.int_cost(top_pairs["cost_travel"].to_numpy(dtype=float), ctx, "travel")
    # S_max: the largest strength any plan could have
    s_max = int(pd.Series(ts).groupby(u_of).max().sum())
    nested: list[np.ndarray] = []
    for tf in lower:
        tab = tf.tables
        is_nested = tab.helpers["unit"].astype(str).isin(units).to_numpy() if tf.tier.nest_in == top.id \
            else np.zeros(len(tab.helpers), dtype=bool)
        nested.append(is_nested)
        s_max += int(_max_strength(tab, np.arange(len(tab.helpers))).sum())
    w = s_max + 1
    plan = plan_scaled(ctx, top_pairs, chosen_top, lower)  # before the networks take the groups' arrays
    nets = []
    for tf in lower:
        net = _tier_net(tf, w)
        why = _potentials(net)
        if why:
            out.reason = why
            return out
        nets.append(net)
    alpha = max([n.alpha for n in nets] + [1])
    m_hat, s_hat, t_hat = plan["match"], plan["strength"], plan["travel"]
    const1, const2 = 0, 0
    g1 = np.zeros(len(top_pairs), dtype=object)
    g1u = np.zeros(len(top_pairs), dtype=object)  # without the per-unit capacity (pairs with g2's travel part)
    g2 = np.zeros(len(top_pairs), dtype=object)
    # unconditional bounds per priority: every helper at his cheapest target for that priority alone (potentials 0)
    terms = ("match", "strength", "travel")
    const0 = {k: 0 for k in terms}
    g0 = {k: np.zeros(len(top_pairs), dtype=object) for k in terms}
    blocked = ~np.asarray(top_allowed, dtype=bool)
    delta1 = np.zeros(len(top_pairs), dtype=object)  # exact W1 above the priced W1 when the unit is alone in the county
    alone_blocked = np.zeros(len(top_pairs), dtype=bool)  # the unit cannot be alone in the county
    pair_at = {(int(u), int(c)): i for i, (u, c) in enumerate(zip(u_of, c_of))}
    jobs: list[tuple[_Nested, int, np.ndarray]] = []  # (nested tier, county, its targets): one job per county
    for tf, net, is_nested in zip(lower, nets, nested):
        tab = tf.tables
        n_h = len(tab.helpers)
        const1 += _side_constant(net, alpha, 1)
        const2 += _side_constant(net, alpha, 2)
        free = _free_helper_terms(net, ~is_nested, n_h, alpha)
        if free is None:
            out.reason = f"tier '{tf.tier.id}': a helper has no candidate target"
            return out
        const1 += free[0]
        const2 += free[1]
        for k in terms:
            const0[k] += free[2][k]
        # every helper of the tier nested and no composition: a county with one unit has only that unit's
        # helpers, whose own min-cost assignment is exact there (_unit_transports)
        exact_alone = bool(is_nested.all()) and not np.asarray(tf.comp_min).any()
        side1 = _side_by_target(net, alpha, 1) if exact_alone and is_nested.any() else None
        net.drop_arcs()  # the county jobs read the potentials only: free the tier's arcs before they run
        if not is_nested.any():
            continue
        npos = np.flatnonzero(is_nested)
        unit_code = units.get_indexer(tab.helpers["unit"].astype(str).to_numpy()[npos])
        nt = _Nested(tf, net, npos, unit_code, {int(u): np.flatnonzero(unit_code == u) for u in np.unique(unit_code)},
                     side1, len(units), w, alpha, pair_at)
        area = tab.targets["t_" + level].astype(str).to_numpy()
        for c_code, tpos in sorted(pd.Series(np.arange(len(area))).groupby(area).indices.items()):
            if c_code in counties:
                jobs.append((nt, int(counties.get_loc(c_code)), np.asarray(tpos)))
    for part in _county_parts(jobs, workers):
        if part.reason:
            out.reason = part.reason
            return out
        blocked[part.blocked] = True
        alone_blocked[part.alone_blocked] = True
        for i, p1u, p1, p2, q_m, q_s, q_t, d in part.rows:
            g1u[i] += p1u
            g1[i] += p1
            g2[i] += p2
            delta1[i] += d
            for k, q in zip(terms, (q_m, q_s, q_t)):
                g0[k][i] += q
    ok = ~blocked
    idx = np.flatnonzero(ok)
    cost1 = [int(w * int(tm[i]) + int(ts[i]) + g1[i]) for i in idx]
    cost2 = [int(alpha * (w * int(tm[i]) + int(ts[i])) + int(tt_[i]) + g2[i]) for i in idx]
    cmax = int(top.coverage_max)
    req = np.minimum(np.asarray(top_required, dtype=np.int64), cmax)
    r1 = _top_flow(u_of[idx], c_of[idx], cost1, len(units), len(counties), req, cmax)
    r2 = _top_flow(u_of[idx], c_of[idx], cost2, len(units), len(counties), req, cmax)
    if r1 is None or r2 is None:
        out.reason = "the priced top tier has no feasible choice in OR-Tools' exact integer range"
        return out
    lb1 = r1[0] + const1
    lb2 = r2[0] + const2
    own = {"match": tm, "strength": ts, "travel": tt_}
    for k in terms:
        r0 = _top_flow(u_of[idx], c_of[idx], [int(own[k][i]) + int(g0[k][i]) for i in idx], len(units),
                       len(counties), req, cmax)
        out.alone[k] = (r0[0] + const0[k]) if r0 is not None else 0
    w1_hat = w * m_hat + s_hat
    if lb1 > w1_hat or lb2 > alpha * w1_hat + t_hat:
        out.reason = f"internal: bound above the plan (W1 {lb1} > {w1_hat} or W2 {lb2} > {alpha * w1_hat + t_hat})"
        return out
    out.alpha, out.weight, out.s_max, out.lb1, out.lb2 = alpha, w, s_max, lb1, lb2
    out.const1, out.const2 = const1, const2
    out.scaled = {"match": m_hat, "strength": s_hat, "travel": t_hat}
    out.priced1 = np.full(len(top_pairs), None, dtype=object)
    out.priced1u = np.full(len(top_pairs), None, dtype=object)
    out.priced1u[idx] = [int(w * int(tm[i]) + int(ts[i]) + g1u[i]) for i in idx]
    out.priced2 = np.full(len(top_pairs), None, dtype=object)
    out.priced1[idx] = cost1
    out.alone_extra1 = delta1
    out.alone_blocked = alone_blocked
    out.priced2[idx] = cost2
    set_scaled(out, out.bounds_for(m_hat, s_hat, t_hat))
    chosen_idx = set(np.flatnonzero(chosen_top).tolist())
    out.top_choice_optimal = {"W1": set(idx[r1[1]].tolist()) == chosen_idx, "W2": set(idx[r2[1]].tolist()) == chosen_idx}
    out.seconds = time.monotonic() - t0
    return out


def plan_scaled(ctx: Any, top_pairs: pd.DataFrame, chosen_top: np.ndarray, lower: list[TierFlows]) -> dict[str, int]:
    """A plan's match, strength and travel in scaled integers: the top tier's chosen pairs plus every lower tier's links.

    Source: the scheme's objective terms summed over all tiers of the program (部门帮县、处长联乡、干部驻村)
    """
    out = {}
    for k in ("match", "strength", "travel"):
        top = pairarrays.int_cost(top_pairs["cost_" + k].to_numpy(dtype=float), ctx, k)
        out[k] = int(top[chosen_top].sum()) + sum(int(g.costs[k][g.chosen].sum()) for tf in lower for g in tf.groups)
    return out


def set_scaled(out: WholeBound, bounds: dict[str, int]) -> None:
    """Put scaled-integer bounds and the plan's values into natural units on ``out``."""
    from matcher.model import SCALES

    out.values = {k: v / SCALES[k] for k, v in out.scaled.items()}
    out.bounds = {k: v / SCALES[k] for k, v in bounds.items()}


def combine(rounds: list[WholeBound], scaled: dict[str, int]) -> WholeBound:
    """The best proven bounds of several rounds (each valid on its own) for the plan with ``scaled`` values."""
    good = [r for r in rounds if not r.reason]
    if not good:
        return rounds[-1]
    best = {k: max(r.bounds_for(scaled["match"], scaled["strength"], scaled["travel"])[k] for r in good)
            for k in ("match", "strength", "travel")}
    out = WholeBound(alpha=good[-1].alpha, weight=good[-1].weight, s_max=good[-1].s_max, scaled=dict(scaled),
                     seconds=sum(r.seconds for r in good), top_choice_optimal=good[-1].top_choice_optimal)
    set_scaled(out, best)
    return out
