"""Small exact transportation problems, compiled: classes of alike helpers to targets with per-target bounds.

The whole-plan bound (:mod:`matcher.wholebound`) solves thousands of these per round: one unit's helpers
in one county, each helper placed once, every target between ``lo`` and ``up`` helpers. Alike helpers
(the same candidate pairs at the same costs) are one class with a count, so a problem has one row per
class, not per helper. Successive shortest paths with node potentials (Dijkstra on reduced costs)
solve it exactly in integers; each augmentation moves as many helpers as the path allows.
"""

from __future__ import annotations

import numpy as np
from numba import njit

OPTIMAL, INFEASIBLE, OUT_OF_RANGE = 0, 1, 2
"""Status codes of :func:`least_transport`."""

_LIMIT = 2**62


@njit(cache=True, nogil=True)
def _heap_push(hk: np.ndarray, hv: np.ndarray, size: int, key: int, val: int) -> int:
    """Push (key, val) on the binary min-heap held in hk/hv with ``size`` entries; the new size."""
    i = size
    hk[i] = key
    hv[i] = val
    while i > 0:
        p = (i - 1) // 2
        if hk[p] <= hk[i]:
            break
        hk[p], hk[i] = hk[i], hk[p]
        hv[p], hv[i] = hv[i], hv[p]
        i = p
    return size + 1


@njit(cache=True, nogil=True)
def _heap_pop(hk: np.ndarray, hv: np.ndarray, size: int) -> int:
    """Remove the heap's top (read it from hk[0], hv[0] first); the new size."""
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    i = 0
    while True:
        a = 2 * i + 1
        if a >= size:
            break
        b = a + 1
        m = b if b < size and hk[b] < hk[a] else a
        if hk[i] <= hk[m]:
            break
        hk[m], hk[i] = hk[i], hk[m]
        hv[m], hv[i] = hv[i], hv[m]
        i = m
    return size


@njit(cache=True, nogil=True)
def least_transport(supply: np.ndarray, row: np.ndarray, col: np.ndarray, cost: np.ndarray, lo: np.ndarray,
                    up: np.ndarray) -> tuple[int, int]:
    """Least total cost placing ``supply[r]`` helpers of each class r, each on one arc (r, col), every column between lo and up.

    Source: the shape of the bound's per-unit problems (one department's officials or staff in one county,
    Guizhou 帮联驻): exact successive shortest paths in int64. Returns (status, cost): OPTIMAL,
    INFEASIBLE (no placement meets the bounds) or OUT_OF_RANGE (costs too large for exact int64 paths).
    Arcs may come in any order; a class may have several arcs to one column (the cheapest counts).
    """
    n_r = len(supply)
    n_c = len(lo)
    total = 0
    for r in range(n_r):
        total += supply[r]
    need = 0
    room = 0
    for t in range(n_c):
        need += lo[t]
        room += up[t]
    if total < need or total > room:
        return INFEASIBLE, 0
    if total == 0:
        return OPTIMAL, 0
    big = 0
    for a in range(len(cost)):
        big = max(big, abs(cost[a]))
    n_nodes = n_r + n_c + 2
    if big >= _LIMIT // (16 * (total + 1) * (total + n_nodes)):  # paths and potentials stay below 2**62
        return OUT_OF_RANGE, 0
    # a column's first lo helpers earn -m: with m above any difference of real costs, an optimum fills every lo
    m = 2 * big * (total + 1) + 1
    src, snk = n_r + n_c, n_r + n_c + 1
    n_arcs = n_r + len(row) + 2 * n_c
    tail = np.empty(2 * n_arcs, dtype=np.int64)
    head = np.empty(2 * n_arcs, dtype=np.int64)
    cap = np.zeros(2 * n_arcs, dtype=np.int64)
    wt = np.empty(2 * n_arcs, dtype=np.int64)
    k = 0
    for r in range(n_r):
        tail[k], head[k], cap[k], wt[k] = src, r, supply[r], 0
        k += 2
    for a in range(len(row)):
        tail[k], head[k], cap[k], wt[k] = row[a], n_r + col[a], supply[row[a]], cost[a]
        k += 2
    for t in range(n_c):
        tail[k], head[k], cap[k], wt[k] = n_r + t, snk, lo[t], -m
        k += 2
        tail[k], head[k], cap[k], wt[k] = n_r + t, snk, up[t] - lo[t], 0
        k += 2
    for a in range(0, 2 * n_arcs, 2):  # each arc's reverse right after it
        tail[a + 1], head[a + 1], cap[a + 1], wt[a + 1] = head[a], tail[a], 0, -wt[a]
    # arcs by tail (CSR)
    deg = np.zeros(n_nodes + 1, dtype=np.int64)
    for a in range(2 * n_arcs):
        deg[tail[a] + 1] += 1
    for v in range(n_nodes):
        deg[v + 1] += deg[v]
    adj = np.empty(2 * n_arcs, dtype=np.int64)
    fill = deg[:-1].copy()
    for a in range(2 * n_arcs):
        adj[fill[tail[a]]] = a
        fill[tail[a]] += 1
    # starting potentials: shortest distances from the source in the (acyclic) graph of forward arcs
    inf = _LIMIT
    pot = np.full(n_nodes, inf, dtype=np.int64)
    pot[src] = 0
    for r in range(n_r):
        pot[r] = 0
    for a in range(n_r * 2, (n_r + len(row)) * 2, 2):
        if cap[a] > 0 and wt[a] < pot[head[a]]:
            pot[head[a]] = wt[a]
    for a in range((n_r + len(row)) * 2, 2 * n_arcs, 2):
        if cap[a] > 0 and pot[tail[a]] < inf and pot[tail[a]] + wt[a] < pot[snk]:
            pot[snk] = pot[tail[a]] + wt[a]
    for v in range(n_nodes):
        if pot[v] == inf:
            pot[v] = 0  # unreachable: no arc with room leads there
    dist = np.empty(n_nodes, dtype=np.int64)
    pred = np.empty(n_nodes, dtype=np.int64)
    done = np.zeros(n_nodes, dtype=np.bool_)
    hk = np.empty(2 * n_arcs + n_nodes, dtype=np.int64)
    hv = np.empty(2 * n_arcs + n_nodes, dtype=np.int64)
    sent = 0
    while sent < total:
        dist[:] = inf
        done[:] = False
        pred[:] = -1
        dist[src] = 0
        size = _heap_push(hk, hv, 0, 0, src)
        while size > 0:
            d, u = hk[0], hv[0]
            size = _heap_pop(hk, hv, size)
            if done[u]:
                continue
            done[u] = True
            if u == snk:  # the nodes still open are at least this far: their potentials move by dist[snk]
                break
            for j in range(deg[u], deg[u + 1]):
                a = adj[j]
                if cap[a] <= 0:
                    continue
                v = head[a]
                nd = d + wt[a] + pot[u] - pot[v]
                if nd < dist[v]:
                    dist[v] = nd
                    pred[v] = a
                    size = _heap_push(hk, hv, size, nd, v)
        if dist[snk] == inf:
            return INFEASIBLE, 0
        for v in range(n_nodes):
            pot[v] += dist[v] if done[v] else dist[snk]
        push = total - sent
        v = snk
        while v != src:
            a = pred[v]
            push = min(push, cap[a])
            v = tail[a]
        v = snk
        while v != src:
            a = pred[v]
            cap[a] -= push
            cap[a ^ 1] += push
            v = tail[a]
        sent += push
    value = 0
    for t in range(n_c):  # every lo filled, or no placement meets them
        a = 2 * (n_r + len(row) + 2 * t)
        if cap[a] != 0:
            return INFEASIBLE, 0
    for a in range(n_r * 2, (n_r + len(row)) * 2, 2):
        value += cap[a + 1] * wt[a]  # the reverse arc's room is the flow
    return OPTIMAL, value
