"""Incident rehearsals: a scenario's faults injected, the rollback checklist worked through, timed.

`mkdrill rehearse [SCENARIO] [--blind] [--auto] [--out DIR]` brings an environment up, lets the
Draft flow settle, injects the scenario's faults (at once or one after another) and then waits
for the on-call person (or, with `--auto`, its own operator) to diagnose the incident and work the
joint playbook's incident rollback checklist: freeze baseline upgrades, revert to the last
approved pin/matrix/manifest trio (or remove the fault), re-run contract and CI verification,
publish the incident summary. mkdrill performs or verifies each step on request and measures time
to detect, time to each step, time to restore against the runbook budget, and Draft availability.

    scenario.py   the scenario files (rehearsals/*.yaml): frozen models, loaded like drills
    state.py      the rehearsal as data: events, checklist, measurements (pure, fake-clock tested)
    commands.py   what an operator types, parsed      auto.py  the unattended operator
    incident.py   the faults on their schedule         steps.py how each checklist step is done and checked
    contract_check.py  the contract and CI re-run     health.py MemoryKernel health, watched
    session.py    the rehearsal's run loop and cleanup  screen.py the live screen (rich)
    keys.py       raw keys → command lines              record.py / report.py  rehearsal.json, summary.md, report.html
    command.py    `mkdrill rehearse`: plan, lock, environment, session, reports, ledger, exit code
"""
