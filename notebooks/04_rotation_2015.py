# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Next term 2015: everyone rotates
#
# In 2015 the 2012 term has ended. Everyone rotates: nobody returns to the place he served (the
# scheme's `terms.no_return` tiers), and where the scheme asks for continuity (`continuity = true`)
# the department -> county pairing is preferred. `instances/guizhou-2015` holds the 2012 links as
# ended incumbents.

# %%
from pathlib import Path

from matcher import read_instance
from matcher.replan import replan_rotation
from matcher.scenario import Scenario

ROOT = Path.cwd() if (Path.cwd() / "instances").exists() else Path.cwd().parent
g2015 = read_instance(ROOT / "instances" / "guizhou-2015")
print(g2015.scheme["terms"])
print([(t["id"], t.get("continuity", False)) for t in g2015.scheme["tiers"]])

# %% [markdown]
# ## Which instance
#
# A rotation needs at least two places per helper to rotate between, so one county is not enough; and
# the full province does not solve within this notebook's CI budget. We rotate the made-up `tiny`
# instance's 2012 plan (2 counties, 3 departments): the same code runs on `guizhou-2015` with
# `matcher replan instances/guizhou-2015 --base PLAN --rotate --out DIR`.

# %%
from matcher.solve import solve

tiny = read_instance(ROOT / "instances" / "tiny")
plan_2012 = solve(tiny, time_limit=20, seed=0, workers=2)
r = replan_rotation(tiny, plan_2012, time_limit=20, seed=0, workers=2)
print(r.summary("zh"))

# %% [markdown]
# ## Nobody returns
#
# In the no-return tiers, no (helper, place) pair of 2012 appears again in 2015.

# %%
old = set(zip(plan_2012.assignments["tier"], plan_2012.assignments["helper"], plan_2012.assignments["target"]))
new = set(zip(r.plan.assignments["tier"], r.plan.assignments["helper"], r.plan.assignments["target"]))
no_return = set(tiny.scheme["terms"]["no_return"])
returned = sorted(k for k in old & new if k[0] in no_return)
print(f"returned: {returned}")
assert not returned
print(r.facts)

# %% [markdown]
# ## The rotation on a map

# %%
r.diff.map(tiny)
