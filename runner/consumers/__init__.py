"""The consumer under test: the reference one mkdrill starts, or yours, reached by Draft URL or command.

`target` says which one and decides, before anything starts, which drills can be applied to it
(a drill that needs what mkdrill cannot do to your consumer is not applicable, never applied to
another consumer instead); `control` applies the consumer-side faults and overrides at run time;
`restart` runs your `--consumer-restart-command`.
"""
