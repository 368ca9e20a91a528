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
# # Another program, the same tool: Baoxing 挂包帮 (2010)
#
# Baoxing county (宝兴县, Sichuan) ran "领导挂点、部门包村、干部帮户": each of 26 county leaders
# (县级领导) links one township, one village and one poor household; departments take villages by
# expertise (部门包村); 64 section chiefs (科长) each help one poor party member and one poor household.
# Six tiers, quotas instead of full coverage for villages, and leaders nested township > village >
# household. Nothing in matcher is specific to Guizhou: the scheme file says it all.

# %%
from pathlib import Path

from matcher import read_instance
from matcher.check import check_plan
from matcher.solver import solve

ROOT = Path.cwd() if (Path.cwd() / "instances").exists() else Path.cwd().parent
baoxing = read_instance(ROOT / "instances" / "baoxing")
print(baoxing.summary())
print([(t["id"], t["name"]) for t in baoxing.scheme["tiers"]])

# %% [markdown]
# ## Solve and check

# %%
plan = solve(baoxing, time_limit=30, seed=0, workers=2)
print(plan.summary("zh"))
print(check_plan(baoxing, plan))

# %% [markdown]
# ## What if the poorest villages each need a department?
#
# The quota says at least 12 class-1 poor villages get a department (部门包村). What if the quota
# rises to every class-1 village? Counting first (no solve needed): are there enough departments?

# %%
from matcher.diagnose import diagnose
from matcher.scenario import Scenario

poor = baoxing.localities[(baoxing.localities["level"] == "village") & (baoxing.localities["poverty_class"] == 1)]
n_units = len(baoxing.units)
print(f"class-1 villages: {len(poor)}, departments: {n_units}")
more = Scenario(baoxing).set_rule("department_village", "quota", [{"where": {"poverty_class": [1]}, "min": len(poor)}])
print(more.describe())

# %%
plan_more = more.solve(base=plan, time_limit=30, seed=0, workers=2)
from matcher.diff import diff_plans

d = diff_plans(plan, plan_more, more.instance)
print(d.summary("zh"))
plan_more.uncovered

# %% [markdown]
# ## Why this leader, this village?

# %%
from matcher.explain import explain_person

leader = plan.tier("leader_village")["helper"].iloc[0]
print(explain_person(baoxing, plan, leader).text("zh"))
