"""Interchangeable helpers of a flow group as one supply node with a count, exact under hometown avoidance.

Source: Guizhou 2012 帮联驻, 干部驻村: 23,168 staff come from a few hundred agencies, and staff of one
agency with the same rank, skills and languages reach the same villages at the same costs, except
that each may not go to the villages of his own home township (hometown avoidance).

A class is a set of helpers whose candidate arcs agree on every target they share (lead flag and
every cost) and where each member reaches every target of the class except, at most, those of one
block (the targets of one area at the tier's ``hometown_avoid`` level). In the flow the class is one
node with supply n (its size); for each block that m > 0 members cannot reach, a relay node between
the class and that block's targets lets at most n - m units into the block. This is exact by Hall's
theorem: targets inside one block are reachable by the n - m members not homed there, and targets in
two or more blocks by all n members, so any flow of the classes splits into one target per member
(:func:`members_chosen`). A helper that fits no class (a pinned link, a per-person ban such as
``no_return``, a partial block) stays a class of one, so merging never changes the optimum, only the
size of the network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from ortools.graph.python import max_flow


@dataclass
class HelperClasses:
    """The classes of a flow group's helpers and the arcs of the merged network."""

    n_classes: int
    class_of: np.ndarray     # per helper: its class
    count: np.ndarray        # per class: members
    must: np.ndarray         # per class: its members must take a link
    home: np.ndarray         # per helper: the block of his class's targets he cannot reach (-1: none)
    relay_class: np.ndarray  # per relay node: its class
    relay_cap: np.ndarray    # per relay node: members who can reach its block (n - m)
    tail: np.ndarray         # per merged arc: its class, or n_classes + its relay
    target: np.ndarray       # per merged arc: its target
    block: np.ndarray        # per merged arc: its target's block
    klass: np.ndarray        # per merged arc: its class
    lead: np.ndarray
    cap: np.ndarray          # per merged arc: members who can reach its target
    pinned: np.ndarray
    costs: dict[str, np.ndarray]


def class_codes(n_helpers: int, key: np.ndarray, must: np.ndarray, alone: np.ndarray) -> np.ndarray:
    """Provisional classes: equal ``key`` and ``must``; a helper marked ``alone`` is a class of his own.

    Source: interchangeable staff (same agency, rank, skills, languages) as one supply with a count
    """
    k = np.asarray(key, dtype=np.int64) * 2 + np.asarray(must, dtype=np.int64)
    k = np.where(alone, -1 - np.arange(n_helpers, dtype=np.int64), k)
    _, first, inv = np.unique(k, return_index=True, return_inverse=True)
    # number the classes by their first helper, so the classes come in helper order
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inv.ravel()]


MAX_CELLS = 60_000_000
"""Largest (proposed classes x targets) of a group that is merged; larger groups are solved helper by helper."""


@njit(cache=True, nogil=True)
def _union_cells(code: np.ndarray, hl: np.ndarray, tl: np.ndarray, n_t: int, n_classes: int, lead: np.ndarray,
                 costs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (class, target) cell: its first arc (-1: none) and its members; per class: two members' arcs to a target differ."""
    first = np.full(n_classes * n_t, -1, dtype=np.int64)
    members = np.zeros(n_classes * n_t, dtype=np.int32)
    bad = np.zeros(n_classes, dtype=np.bool_)
    for a in range(len(hl)):
        c = code[hl[a]]
        cell = c * n_t + tl[a]
        f = first[cell]
        if f < 0:
            first[cell] = a
        else:
            if lead[f] != lead[a]:
                bad[c] = True
            for k in range(costs.shape[0]):
                if costs[k, f] != costs[k, a]:
                    bad[c] = True
        members[cell] += 1
    return first, members, bad


@njit(cache=True, nogil=True)
def _homes(code: np.ndarray, hl: np.ndarray, tl: np.ndarray, bl: np.ndarray, nb: int, n_t: int, members: np.ndarray,
           bad: np.ndarray) -> np.ndarray:
    """Per helper the one block of his class's targets he cannot reach (-1: none); marks classes whose members miss part of a block or two blocks."""
    n_classes = len(bad)
    n_helpers = len(code)
    ub = np.zeros(n_classes * nb, dtype=np.int64)
    for cell in range(len(members)):
        if members[cell] > 0:
            ub[(cell // n_t) * nb + bl[cell % n_t]] += 1
    hb = np.zeros(n_helpers * nb, dtype=np.int64)
    for a in range(len(hl)):
        hb[hl[a] * nb + bl[tl[a]]] += 1
    home = np.full(n_helpers, -1, dtype=np.int64)
    for h in range(n_helpers):
        c = code[h]
        missing = 0
        for b in range(nb):
            u = ub[c * nb + b]
            if u == 0:
                continue
            x = hb[h * nb + b]
            if x == 0:
                missing += 1
                home[h] = b
            elif x != u:
                bad[c] = True
        if missing > 1:
            bad[c] = True
    return home


def _classify(n_helpers: int, key: np.ndarray, must: np.ndarray, alone: np.ndarray, hl: np.ndarray, tl: np.ndarray,
              bl: np.ndarray, nb: int, lead: np.ndarray, costs: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Classes (code per helper), each cell's first arc and members, each helper's home block, and the bad-class flags."""
    n_t = len(bl)
    code = class_codes(n_helpers, key, must, alone)
    n_classes = int(code.max()) + 1 if n_helpers else 0
    first, members, bad = _union_cells(code, hl, tl, n_t, n_classes, lead, costs)
    home = _homes(code, hl, tl, bl, nb, n_t, members, bad)
    return code, first, members, home, bad


def helper_classes(n_helpers: int, must: np.ndarray, hl: np.ndarray, tl: np.ndarray, lead: np.ndarray,
                   pinned: np.ndarray, costs: dict[str, np.ndarray], key: np.ndarray, block_t: np.ndarray
                   ) -> HelperClasses | None:
    """A flow group's helpers merged into classes of interchangeable helpers, with the merged network's arcs.

    Source: Guizhou 2012 帮联驻 (interchangeable staff, hometown avoidance by township); the module docstring

    ``hl``, ``tl`` are the group's arcs (local helper and target positions); ``key`` proposes classes
    (equal key: maybe interchangeable) and ``block_t`` gives each target's block. Classes whose members
    turn out not to be interchangeable are split into classes of one. None: the group is too large to
    merge (MAX_CELLS).
    """
    n_t = len(block_t)
    _, bl = np.unique(np.asarray(block_t), return_inverse=True)
    bl = bl.ravel().astype(np.int64)
    nb = int(bl.max()) + 1 if n_t else 1
    hl = np.asarray(hl, dtype=np.int64)
    tl = np.asarray(tl, dtype=np.int64)
    deg = np.bincount(hl, minlength=n_helpers)
    alone = deg == 0
    if pinned.any():
        alone[hl[pinned]] = True
    names = list(costs)
    stacked = np.stack([np.asarray(costs[k], dtype=np.int64) for k in names]) if names else np.zeros((0, len(hl)), np.int64)
    key = np.asarray(key, dtype=np.int64)
    if len(np.unique(key)) * n_t > MAX_CELLS:
        return None
    code, first, members, home, bad = _classify(n_helpers, key, must, alone, hl, tl, bl, nb, lead, stacked)
    if bad.any():
        code, first, members, home, bad = _classify(n_helpers, key, must, alone | bad[code], hl, tl, bl, nb, lead,
                                                    stacked)
        if bad.any():
            raise AssertionError("internal: classes of one are not interchangeable with themselves")
    del stacked
    n_classes = int(code.max()) + 1
    count = np.bincount(code, minlength=n_classes).astype(np.int64)
    must_c = np.zeros(n_classes, dtype=bool)
    must_c[code] = must
    cells = np.flatnonzero(members)  # (class, target) in class order, then target order
    src = first[cells]
    del first, members
    klass = cells // n_t
    target = cells % n_t
    blk = bl[target]
    # members homed in each (class, block): the block's relay lets the others in
    homed = home >= 0
    m_cb = np.bincount(code[homed] * nb + home[homed], minlength=n_classes * nb)
    arc_cb = klass * nb + blk
    short = m_cb[arc_cb]
    relay_keys = np.unique(arc_cb[short > 0])
    relay_class = relay_keys // nb
    relay_cap = count[relay_class] - m_cb[relay_keys]
    tail = klass.copy()
    via = short > 0
    tail[via] = n_classes + np.searchsorted(relay_keys, arc_cb[via])
    return HelperClasses(n_classes, code, count, must_c, home, relay_class.astype(np.int64), relay_cap.astype(np.int64),
                         tail, target, blk, klass, lead[src], (count[klass] - short).astype(np.int64), pinned[src],
                         {k: np.asarray(costs[k])[src] for k in names})


def members_chosen(hc: HelperClasses, amount: np.ndarray, hl: np.ndarray, tl: np.ndarray, n_targets: int
                   ) -> np.ndarray:
    """The group's original arcs chosen when each class's flow (``amount`` per merged arc) is split among its members.

    Source: the Hall argument of the module docstring, made constructive by one small max flow from
    (class, home block) to (class, block); members in helper order take blocks in block order and,
    within a block, targets in target order (deterministic)
    """
    amount = np.asarray(amount, dtype=np.int64)
    used = np.flatnonzero(amount > 0)
    chosen = np.zeros(len(hl), dtype=bool)
    if not len(used):
        return chosen
    # demand per (class, block)
    width = int(hc.block.max()) + 2
    cb = hc.klass[used] * width + hc.block[used]
    cb_keys, cb_inv = np.unique(cb, return_inverse=True)
    demand = np.bincount(cb_inv.ravel(), weights=amount[used]).astype(np.int64)
    dc, db = cb_keys // width, cb_keys % width
    # supply per (class, home): members of classes with flow
    members = np.flatnonzero(np.isin(hc.class_of, np.unique(dc)))
    g_key = hc.class_of[members].astype(np.int64) * (width + 1) + (hc.home[members] + 1)
    g_keys, g_inv, g_n = np.unique(g_key, return_inverse=True, return_counts=True)
    gc, gh = g_keys // (width + 1), g_keys % (width + 1) - 1
    # arcs (class, home) -> (class, block) for every block of the class but his home
    gi, bi = [], []
    d_start = np.searchsorted(dc, np.arange(hc.n_classes + 1))
    for i in range(len(g_keys)):
        c = int(gc[i])
        js = np.arange(d_start[c], d_start[c + 1])
        js = js[db[js] != gh[i]]
        gi.append(np.full(len(js), i))
        bi.append(js)
    gi_a = np.concatenate(gi) if gi else np.zeros(0, dtype=np.int64)
    bi_a = np.concatenate(bi) if bi else np.zeros(0, dtype=np.int64)
    n_g, n_d = len(g_keys), len(cb_keys)
    src, snk = n_g + n_d, n_g + n_d + 1
    mf = max_flow.SimpleMaxFlow()
    big = int(g_n.max())
    arcs = mf.add_arcs_with_capacity(gi_a.astype(np.int32), (n_g + bi_a).astype(np.int32),
                                     np.full(len(gi_a), big, dtype=np.int64))
    mf.add_arcs_with_capacity(np.full(n_g, src, dtype=np.int32), np.arange(n_g, dtype=np.int32), g_n.astype(np.int64))
    mf.add_arcs_with_capacity(n_g + np.arange(n_d, dtype=np.int32), np.full(n_d, snk, dtype=np.int32), demand)
    if mf.solve(src, snk) != mf.OPTIMAL or mf.optimal_flow() != int(demand.sum()):
        raise AssertionError("internal: a class's flow does not split among its members")
    x = mf.flows(arcs)
    # members of each (class, home) in helper order take their blocks in block order
    order_m = np.lexsort((members, g_inv.ravel()))
    m_sorted = members[order_m]
    g_of = g_inv.ravel()[order_m]
    g_first = np.searchsorted(g_of, np.arange(n_g))
    arc_order = np.lexsort((bi_a, gi_a))
    label = np.full(len(m_sorted), -1, dtype=np.int64)
    taken = np.zeros(n_g, dtype=np.int64)
    for a in arc_order[x[arc_order] > 0]:
        g, k = int(gi_a[a]), int(x[a])
        s = g_first[g] + taken[g]
        label[s:s + k] = bi_a[a]
        taken[g] += k
    placed = label >= 0
    mh, mb = m_sorted[placed], label[placed]
    # within each (class, block): members in helper order take the block's target slots in target order
    o = np.lexsort((mh, mb))
    mh = mh[o]
    slot_arc = np.repeat(used, amount[used])
    slot_cb = np.searchsorted(cb_keys, hc.klass[slot_arc] * width + hc.block[slot_arc])
    so = np.lexsort((hc.target[slot_arc], slot_cb))
    slot_t = hc.target[slot_arc][so]
    if len(slot_t) != len(mh):
        raise AssertionError("internal: members and slots differ in number")
    key = hl.astype(np.int64) * n_targets + tl
    by_key = np.argsort(key, kind="stable")
    want = mh.astype(np.int64) * n_targets + slot_t
    at = np.minimum(np.searchsorted(key[by_key], want), len(key) - 1)
    if (key[by_key[at]] != want).any():
        raise AssertionError("internal: a member was given a target he cannot reach")
    chosen[by_key[at]] = True
    return chosen
