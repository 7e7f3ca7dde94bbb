"""Incident rehearsals: a scenario's faults injected, the rollback checklist worked through, timed.

`mkdrill rehearse [SCENARIO] [--blind] [--auto] [--out DIR]` brings an environment up, lets the
Draft flow settle, injects the scenario's faults (at once or one after another) and then waits
for the on-call person (or, with `--auto`, its own operator) to diagnose the incident and work the
joint playbook's incident rollback checklist: freeze baseline upgrades, revert to the last
approved pin/matrix/manifest trio (or remove the fault), re-run contract and CI verification,
publish the incident summary. mkdrill performs or verifies each step on request and measures time
to detect, time to each step, time to restore against the runbook budget, and Draft availability.

    scenario.py catalog.py   the scenario files (rehearsals/*.yaml): frozen models, loaded like drills
    entries.py state.py judge.py   the rehearsal as data (events, checklist, Draft flow per second),
                  its measures and verdict: pure, tested on a fake clock
    commands.py   what an operator types           auto.py  the unattended operator's decisions
    operators.py  a person at a terminal, or --auto  keys.py  raw keys → command lines
    screen.py     the live screen (rich)           health.py MemoryKernel health, watched
    incident.py   the faults on their schedule     steps.py how each checklist step is done and checked
    contract_check.py  the contract and CI re-run  record.py report.py  rehearsal.json, summary.md, report.html
    plan.py session.py command.py   decided first; the run loop and cleanup; `mkdrill rehearse`
"""
