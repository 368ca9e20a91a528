"""One module per group of CLI commands; each defines ``register(app)``.

``matcher.cli`` imports every module named in ``COMMAND_MODULES``.
"""

COMMAND_MODULES = [
    "validate",   # validate, template                      (instance loader)
    "build",      # build-instance                          (real instances)
    "solve",      # solve                                   (plan solver)
    "check",      # check, show                             (independent checker, plan)
    "maps",       # map, brief, export                      (maps and exports)
    "workflow",   # diff, explain, diagnose, replan         (planner's workflow)
    "pipeline",   # run: solve + map + export + brief        (the README's main job)
]
