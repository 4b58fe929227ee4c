"""The job model: states and transitions, retry policies, tasks and their registry."""
