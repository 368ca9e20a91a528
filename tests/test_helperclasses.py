"""Merged interchangeable helpers (matcher.helperclasses) give the same optimum as one node per helper."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from matcher import helperclasses, province
from matcher.province import FLOW_TERMS, _solve_flow, _solve_merged


def _group(seed: int, *, n_units: int = 3, n_blocks: int = 3, per_block: int = 3, n_helpers: int = 14,
           odd: float = 0.0):
    """A random flow group shaped like a village tier: units' staff, targets in blocks, one home block per helper.

    Staff of one unit with one profile share costs per target; each may not reach his home block. With
    ``odd`` > 0 some helpers break the pattern (a cost differs, part of a block or two blocks are missing),
    so their proposed class is not interchangeable and must be split.
    """
    rng = np.random.default_rng(seed)
    n_t = n_blocks * per_block
    block = np.repeat(np.arange(n_blocks), per_block)
    unit = rng.integers(0, n_units, size=n_helpers)
    prof = rng.integers(0, 2, size=n_helpers)
    home = rng.integers(-1, n_blocks, size=n_helpers)
    lead_of = prof == 1
    base = {t: rng.integers(0, 3000 if t == "travel" else 300, size=(n_units, 2, n_t)) for t in FLOW_TERMS}
    reach_unit = rng.random((n_units, n_t)) < 0.8
    hp, tp, costs = [], [], {t: [] for t in FLOW_TERMS}
    for h in range(n_helpers):
        reach = reach_unit[unit[h]] & (block != home[h])
        if rng.random() < odd:
            kind = rng.integers(0, 3)
            if kind == 1:  # part of a block missing
                reach = reach.copy()
                reach[rng.integers(0, n_t)] = False
            elif kind == 2:  # two blocks missing
                reach = reach & (block != (home[h] + 1) % n_blocks)
        for t in np.flatnonzero(reach):
            hp.append(h)
            tp.append(int(t))
            for term in FLOW_TERMS:
                c = int(base[term][unit[h], prof[h], t])
                if rng.random() < odd / 4:
                    c += 1  # a cost of his own
                costs[term].append(c)
    hp_a, tp_a = np.array(hp, dtype=np.int32), np.array(tp, dtype=np.int32)
    lead = lead_of[hp_a]
    req = rng.integers(1, 3, size=n_t).astype(np.int64)
    comp = (rng.random(n_t) < 0.4).astype(np.int64)
    key = unit * 4 + prof * 2 + lead_of
    return dict(n_helpers=n_helpers, n_t=n_t, req=req, comp=comp, tmax=3, hp=hp_a, tp=tp_a, lead=lead,
                costs={t: np.array(v, dtype=np.int64) for t, v in costs.items()}, key=key, block=block)


def _both(g, must=None):
    must = np.ones(g["n_helpers"], dtype=bool) if must is None else must
    pin = np.zeros(len(g["hp"]), dtype=bool)
    args = (g["n_helpers"], must, g["n_t"], g["req"], g["comp"], g["tmax"], g["hp"], g["tp"], g["lead"], pin, g["costs"])
    return _solve_flow(*args), _solve_merged(*args, g["key"], g["block"])


def _valid(g, r, must) -> None:
    """Each helper holds at most one link (exactly one when he must), on one of his own arcs; no target over tmax."""
    per_helper = np.bincount(g["hp"][r.chosen], minlength=g["n_helpers"])
    assert (per_helper <= 1).all()
    assert (per_helper[must] == 1).all()
    assert (np.bincount(g["tp"][r.chosen], minlength=g["n_t"]) <= g["tmax"]).all()


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("odd", [0.0, 0.3])
def test_merged_helpers_reach_the_optimum_of_one_node_each(seed, odd):
    g = _group(seed, odd=odd)
    must = np.ones(g["n_helpers"], dtype=bool)
    pin = np.zeros(len(g["hp"]), dtype=bool)
    args = (g["n_helpers"], must, g["n_t"], g["req"], g["comp"], g["tmax"], g["hp"], g["tp"], g["lead"], pin, g["costs"])
    try:
        plain = _solve_flow(*args)
    except province._FlowInfeasible:
        pytest.skip("no assignment covers this draw")
    merged = _solve_merged(*args, g["key"], g["block"])
    assert (merged.coverage, merged.values) == (plain.coverage, plain.values)
    _valid(g, merged, must)


def test_a_class_with_homed_members_gets_a_relay_capped_at_the_others():
    """Three interchangeable staff, two homed in block 0: at most one of them may go there."""
    hp = np.array([0, 0, 1, 1, 2, 2, 2, 2], dtype=np.int32)
    tp = np.array([2, 3, 2, 3, 0, 1, 2, 3], dtype=np.int32)
    costs = {t: np.zeros(8, dtype=np.int64) for t in FLOW_TERMS}
    block = np.array([0, 0, 1, 1])
    hc = helperclasses.helper_classes(3, np.ones(3, dtype=bool), hp, tp, np.zeros(8, dtype=bool),
                                      np.zeros(8, dtype=bool), costs, np.zeros(3, dtype=np.int64), block)
    assert hc.n_classes == 1 and hc.count.tolist() == [3]
    assert hc.home.tolist() == [0, 0, -1]
    assert hc.relay_cap.tolist() == [1]  # block 0: only helper 2 reaches it
    assert (hc.tail[hc.block == 0] == 1).all() and (hc.tail[hc.block == 1] == 0).all()
    assert hc.cap[hc.block == 0].tolist() == [1, 1] and hc.cap[hc.block == 1].tolist() == [3, 3]
    # block 0's two targets each need one helper: only one can go, so one stays short (exactly as with one node each)
    g = dict(n_helpers=3, n_t=4, req=np.array([1, 1, 0, 0]), comp=np.zeros(4, dtype=np.int64), tmax=3, hp=hp, tp=tp,
             lead=np.zeros(8, dtype=bool), costs=costs, key=np.zeros(3, dtype=np.int64), block=block)
    plain, merged = _both(g)
    assert merged.coverage == plain.coverage == 1
    assert merged.chosen[6] or merged.chosen[4] or merged.chosen[5]


def test_members_who_are_not_interchangeable_are_split():
    """A member missing part of a block, or with a cost of his own, leaves his proposed class as classes of one."""
    hp = np.array([0, 0, 0, 1, 1, 2, 2, 2], dtype=np.int32)
    tp = np.array([0, 1, 2, 0, 2, 0, 1, 2], dtype=np.int32)
    costs = {t: np.zeros(8, dtype=np.int64) for t in FLOW_TERMS}
    block = np.array([0, 0, 1])  # helper 1 misses target 1 but not target 0: part of block 0
    args = (3, np.ones(3, dtype=bool), hp, tp, np.zeros(8, dtype=bool), np.zeros(8, dtype=bool))
    hc = helperclasses.helper_classes(*args, costs, np.zeros(3, dtype=np.int64), block)
    assert hc.n_classes == 3
    hc2 = helperclasses.helper_classes(*args, costs, np.zeros(3, dtype=np.int64), np.array([0, 1, 2]))
    assert hc2.n_classes == 1  # with each target its own block, helper 1 only misses block 1
    costs["travel"] = np.array([5, 5, 5, 5, 5, 5, 5, 6])  # helper 2's travel to target 2 differs
    hc3 = helperclasses.helper_classes(*args, costs, np.zeros(3, dtype=np.int64), np.array([0, 1, 2]))
    assert hc3.n_classes == 3


def test_optional_and_unplaced_helpers_keep_their_meaning():
    g = _group(5, n_helpers=12)
    must = np.arange(g["n_helpers"]) % 3 != 0
    plain, merged = _both(g, must)
    assert (merged.coverage, merged.values) == (plain.coverage, plain.values)
    _valid(g, merged, must)
    # a helper with no arc at all is reported unplaced by both
    keep = g["hp"] != 4
    g2 = dict(g, hp=g["hp"][keep], tp=g["tp"][keep], lead=g["lead"][keep], costs={t: v[keep] for t, v in g["costs"].items()})
    plain2, merged2 = _both(g2)
    assert merged2.unplaced.tolist() == plain2.unplaced.tolist() == [4]


def test_merging_is_deterministic_and_really_merges():
    g = _group(11, n_helpers=30, n_units=2, n_blocks=4, per_block=4)
    pin = np.zeros(len(g["hp"]), dtype=bool)
    must = np.ones(g["n_helpers"], dtype=bool)
    hc = helperclasses.helper_classes(g["n_helpers"], must, g["hp"], g["tp"], g["lead"], pin, g["costs"], g["key"],
                                      g["block"])
    assert hc.n_classes <= 8 and len(hc.tail) < len(g["hp"]) / 2
    a, b = _both(g)[1], _both(g)[1]
    assert np.array_equal(a.chosen, b.chosen)


def test_the_split_respects_every_member_s_home_block_by_brute_force():
    """Every split the module makes is one a person-by-person assignment could make (checked on all small demands)."""
    hp, tp = [], []
    homes = [0, 0, 1, -1]
    block = np.array([0, 1, 2])
    for h, home in enumerate(homes):
        for t in range(3):
            if block[t] != home:
                hp.append(h)
                tp.append(t)
    hp_a, tp_a = np.array(hp, dtype=np.int32), np.array(tp, dtype=np.int32)
    costs = {t: np.zeros(len(hp), dtype=np.int64) for t in FLOW_TERMS}
    hc = helperclasses.helper_classes(4, np.ones(4, dtype=bool), hp_a, tp_a, np.zeros(len(hp), dtype=bool),
                                      np.zeros(len(hp), dtype=bool), costs, np.zeros(4, dtype=np.int64), block)
    assert hc.n_classes == 1
    for demand in itertools.product(range(5), repeat=3):
        if sum(demand) != 4:
            continue
        feasible = demand[0] <= 2 and demand[1] <= 3  # two homed in block 0, one in block 1
        amount = np.array([demand[int(t)] for t in hc.target])
        if not feasible:
            with pytest.raises(AssertionError):
                helperclasses.members_chosen(hc, amount, hp_a, tp_a, 3)
            continue
        chosen = helperclasses.members_chosen(hc, amount, hp_a, tp_a, 3)
        assert np.bincount(hp_a[chosen], minlength=4).tolist() == [1, 1, 1, 1]
        assert np.bincount(tp_a[chosen], minlength=3).tolist() == list(demand)
