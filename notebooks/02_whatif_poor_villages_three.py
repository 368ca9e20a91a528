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
# # What if class-1 poor villages need teams of three?
#
# The provincial leadership asks: "what if every class-1 poor village (一类贫困村) gets three stationed
# cadres instead of two?" The organisation department needs three answers: how many more staff,
# where, and what it costs. We answer the first two for the whole province by counting, then solve
# one county to see the plan change and its cost.

# %%
from pathlib import Path

from matcher import read_instance
from matcher.solver import solve
from matcher.diagnose import count_shortages
from matcher.diff import diff_plans
from matcher.scenario import Scenario

ROOT = Path.cwd() if (Path.cwd() / "instances").exists() else Path.cwd().parent
guizhou = read_instance(ROOT / "instances" / "guizhou")
three = Scenario(guizhou).set_class_min("village", {"poverty_class": [1]}, 3)
print(three.describe("zh"))

# %% [markdown]
# ## How many more staff, and where (whole province)
#
# `count_shortages` runs, per tier, a flow from groups of helpers (unit x rank) to the counties they may
# serve (county staff stay in their county, prefecture staff in their prefecture; the section-level
# team leader is its own demand), with one "extra helper" slack arc per county. The slack it must use
# is the fewest extra eligible helpers, and where. It relaxes pair-level rules (hometown avoidance,
# nesting), so the figure is a lower bound: no plan can need fewer.

# %%
base_short, _ = count_shortages(guizhou)
short, extra = count_shortages(three.instance)
print(f"today: {int(base_short['short'].sum())} short; with teams of three: {int(short['short'].sum())} short")
extra.sort_values("extra_helpers", ascending=False).head(15)

# %% [markdown]
# ## The plan in one county, before and after
#
# For the cost, we solve 龙里县 (Longli) with and without the new rule. The what-if solve is
# warm-started from the base plan (the base links are a hint to CP-SAT), so the solver starts from a
# plan it already knows.

# %%
LONGLI = "522730000000"
county = Scenario(guizhou).within([LONGLI])
base = solve(county.instance, time_limit=20, seed=0, workers=2)
what_if = county.set_class_min("village", {"poverty_class": [1]}, 3)
plan3 = what_if.solve(base=base, time_limit=20, seed=0, workers=2)
d = diff_plans(base, plan3, what_if.instance)
print(d.summary("zh"))

# %% [markdown]
# ## What it costs
#
# The KPI deltas: links, travel, needs matched, class-1 teams complete, and the shortfall (villages the
# county cannot staff fully: the solver lists each in `uncovered` with its reason).

# %%
kpis = d.kpis[d.kpis["delta"].abs() > 1e-9]
kpis[kpis["kpi"].str.contains("village|objective.coverage|travel|class")]

# %%
plan3.uncovered

# %% [markdown]
# ## The change on a map
#
# New links in green, moved links in orange (from the old village to the new one), ended links grey.

# %%
d.map(what_if.instance)

# %% [markdown]
# ## Why did this cadre move?

# %%
from matcher.explain import explain_person

if len(d.moved):
    print(explain_person(what_if.instance, plan3, d.moved["helper"].iloc[0]).text("zh"))
elif len(d.new):
    print(explain_person(what_if.instance, plan3, d.new["helper"].iloc[0]).text("zh"))
