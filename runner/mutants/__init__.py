"""`mkdrill mutants`: measure the drill catalog's sensitivity, the way mutation testing measures tests.

Each mutant is the reference consumer with one AssistSupport rule broken (`consumers.defects`).
`session` runs the drills against the healthy consumer and each mutant in one environment,
`order` decides which drills to try first, `matrix` turns the drill results into who caught
what and the verdict, `report` writes report.json and report.html, `command` ties it together.
"""
