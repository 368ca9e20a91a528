# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quick start: Guizhou 帮联驻 (2012)
#
# In 2012 Guizhou's organisation department (组织部) sent its cadres to the countryside for three
# years: 101 provincial departments each help a county (部门帮县), 2,829 division-level officials
# each link a township (处长联乡), and 23,168 staff are stationed in villages (干部驻村), two in each
# class-1 poor village (一类贫困村), one of them section-level. This notebook loads the program,
# solves a plan, reads its summary, looks at it on a map and asks why one cadre went where he went.
#
# The instance `instances/guizhou` holds the whole province (88 counties, 13,689 village committees).

# %%
from pathlib import Path

from matcher import read_instance
from matcher.scenario import Scenario

ROOT = Path.cwd() if (Path.cwd() / "instances").exists() else Path.cwd().parent
guizhou = read_instance(ROOT / "instances" / "guizhou")
print(guizhou.summary())

# %% [markdown]
# ## A county to plan in seconds
#
# Solving the whole province takes a couple of minutes (below); to try things quickly, plan one real county, 龙里县 (Longli,
# 黔南布依族苗族自治州), with the department, officials and staff that would serve it.
# `Scenario.within` keeps the county's townships and villages, its county agencies, a share of the
# prefecture's agencies proportional to the county's villages, and one provincial department.

# %%
LONGLI = "522730000000"
county = Scenario(guizhou).within([LONGLI])
longli = county.instance
print(county.describe())
print(f"{len(longli.localities)} places, {len(longli.units)} units, {len(longli.people)} cadres")

# %% [markdown]
# ## Solve
#
# The solver minimises, in order: coverage shortfall, continuity, need/expertise match, strength to
# need, travel and balance (the scheme's `[objective]`). Every plan is re-checked by the independent
# checker (`matcher.check`).

# %%
from matcher.check import check_plan
from matcher.solver import solve

plan = solve(longli, time_limit=20, seed=0, workers=2)
print(plan.summary("zh"))
print(check_plan(longli, plan))

# %% [markdown]
# ## The map
#
# Counties are coloured by coverage; one layer per tier; village points are schematic positions
# (`position = schematic`: generated inside the county, not surveyed). The map works offline.

# %%
from matcher import maps

m = maps.coverage_map(plan, longli, lang="zh")
m

# %% [markdown]
# ## The whole province
#
# The same call plans all of Guizhou: 101 departments, 2,829 officials and 23,168 staff over 88
# counties, 1,145 towns and townships and 13,689 village committees. `solve` sees that the village
# tier has about 9.7 million candidate pairs and hands the instance to the province solver
# (`matcher.province`): the county tier first (a MIP that also counts what the tiers below will
# need), then the towns and villages of each county as exact min-cost flows. It takes about a
# minute and a half on a 2-core machine. Each tier is optimal given the tier above it; a Lagrangian
# bound for the whole plan then proves how far the plan can be from the best possible: the summary
# shows the first priority not proven optimal (match, within about 4 %) and the bound of every
# priority. `docs/solver.md` explains the method; a longer `time_limit` buys rounds that re-choose
# the departments' counties and tighten both the plan and the bound.

# %%
province_plan = solve(guizhou, time_limit=60, seed=0, workers=2)
print(province_plan.summary("zh"))
print(check_plan(guizhou, province_plan))

# %%
maps.coverage_map(province_plan, guizhou, lang="zh")

# %% [markdown]
# ## Why is this cadre here?
#
# Pick the first stationed cadre of a class-1 poor village and ask. The explanation lists each cost
# part with the rule's own words (the rule functions' docstrings), and the best alternative.

# %%
from matcher.explain import explain_person

village = plan.tier("village")
poor = longli.localities.loc[village["target"], "poverty_class"].astype(int).to_numpy() == 1
someone = village.loc[poor, "helper"].iloc[0]
print(explain_person(longli, plan, someone).text("zh"))
