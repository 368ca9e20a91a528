"""scheme.toml texts of the real instances (placeholders @NAME@ filled by the builders)."""

GUIZHOU = r'''# Guizhou 帮联驻 (2012) on the 2023 map. Built by scripts/build_instances.py: do not edit by hand.
# Three tiers: provincial departments help counties (部门帮县), their division-level officials link
# towns and townships (处长联乡, subdistricts not linked), section-level cadres and staff are
# stationed in village committees (干部驻村), two in each class-1 poor village, one of them section-level.

[program]
name = "贵州省“部门帮县、处长联乡、干部驻村”"
name_en = "Guizhou: departments help counties, division chiefs link townships, staff stationed in villages"
source = "贵州日报 2012: 101个省直部门挂帮88个县, 2829名处级干部联系1446个乡镇, 23168名干部进驻17672个行政村; 一驻三年不变"
plan_year = @PLAN_YEAR@
term_years = 3
working_days = 250

[terms]
pin_incumbents = true
no_return = @NO_RETURN@

[budget]
division = { min_days = 83, max_days = 125 }
section = { max_days = 250 }
staff = { max_days = 250 }
travel = { detour = 1.4, speed_kmh = 40, hours_per_day = 8 }

[[tiers]]
id = "county"
name = "部门帮县"
name_en = "departments help counties"
helpers = { table = "units", level = ["province"] }
targets = { table = "localities", level = ["county"] }
coverage = "full"
coverage_min = 1
coverage_max = 2
links_min = 1
links_max = 1
visit_days = 0
visits_per_year = 0
continuity = true

[[tiers]]
id = "township"
name = "处长联乡"
name_en = "division chiefs link townships"
helpers = { table = "people", rank = ["division"], unit_level = ["province"] }
targets = { table = "localities", level = ["township"], kind = ["town", "township", "ethnic_township"] }
coverage = "full"
coverage_min = 1
coverage_max = 3
links_min = 1
links_max = 1
visit_days = 84
visits_per_year = 6
nest_in = "county"

[tiers.eligibility]
hometown_avoid = "county"

[[tiers]]
id = "village"
name = "干部驻村"
name_en = "staff stationed in villages"
helpers = { table = "people", rank = ["section", "staff"] }
targets = { table = "localities", level = ["village"], kind = @VILLAGE_KINDS@ }
coverage = "full"
coverage_min = 1
coverage_max = 4
links_min = 1
links_max = 1
visit_days = 0
visits_per_year = 0
unit_share_max = 0.3334
nest_in = "county"

[[tiers.class_min]]
where = { poverty_class = [1] }
min = 2

[[tiers.composition]]
where = { poverty_class = [1] }
helper_where = { rank = ["section"] }
min = 1

[tiers.eligibility]
stay_in_area = { county = "county", prefecture = "prefecture" }
# county staff must stay in their own county, so avoidance is by home township here
# (a county-level rule would leave a county's local staff no village at all)
hometown_avoid = "township"

[[tiers.eligibility.rank_by_class]]
where = { poverty_class = [1] }
rank = ["section", "staff"]

[objective]
order = ["coverage", "continuity", "match", "strength", "travel", "balance"]

[objective.weights]
coverage = 1.0
continuity = 1.0
match = 1.0
language = 2.0
strength = 1.0
travel = 1.0
balance = 1.0
'''
