"""Models for the typed-access-tree and planner tests: every node kind."""
