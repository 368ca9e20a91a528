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
# # Mid-term 2013: who replaces the officials who left?
#
# A year into the three-year term (一驻三年不变), about 4 % of the cadres have left: promoted (提拔),
# ill, transferred or retired. `instances/guizhou-2013` holds the 2012 links as incumbents (start year
# 2012, still in force) without the departed, the newly assigned cadres (unlinked), and
# `departures.csv` listing who left and which post they held. Everyone else keeps his post; the
# vacancies are refilled with the fewest moves, and every move says why it was needed.

# %%
from pathlib import Path

import pandas as pd

from matcher import read_instance
from matcher.replan import read_departures, replan_midterm
from matcher.scenario import Scenario

ROOT = Path.cwd() if (Path.cwd() / "instances").exists() else Path.cwd().parent
g2013 = read_instance(ROOT / "instances" / "guizhou-2013")
departures = read_departures(ROOT / "instances" / "guizhou-2013" / "departures.csv")
departures["reason"].value_counts()

# %% [markdown]
# ## One county
#
# As in the quick start, we replan one county, 龙里县 (Longli), so the notebook runs in seconds in CI;
# `matcher replan instances/guizhou-2013 --base PLAN --departures departures.csv --out DIR` does the
# same for the province. The slice keeps the department that has helped Longli since 2012 and the
# cadres in post there.

# %%
LONGLI = "522730000000"
longli = Scenario(g2013).within([LONGLI]).instance
here = departures[departures["target"].isin(longli.localities.index)]
here

# %% [markdown]
# ## Refill the vacancies
#
# The links in force are pinned (they cannot move); the solver fills only what is missing, from the
# cadres without a post. A vacancy whose place still has enough helpers need not be refilled; one that
# cannot be refilled is listed with the reason.

# %%
r = replan_midterm(longli, None, departures, time_limit=20, seed=0, workers=2)
print(r.summary("zh"))

# %%
r.moves[["tier", "helper_name", "change", "from_target", "to_target", "target_name", "reason_zh"]]

# %% [markdown]
# ## Nobody else moved
#
# Every link of 2012 whose cadre is still here is unchanged: the diff has no "moved" links.

# %%
print(r.diff.counts())
assert r.diff.moved.empty

# %% [markdown]
# ## Why this cadre for this vacancy?

# %%
from matcher.explain import explain_link

fills = r.moves[(r.moves["change"] == "new") & r.moves["reason"].str.contains("vacancy")]
if len(fills):
    row = fills.iloc[0]
    print(explain_link(longli, r.plan, row["tier"], row["helper"], row["to_target"]).text("zh"))
