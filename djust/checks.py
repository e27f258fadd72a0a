"""System checks for what djust's LiveView needs from a project's settings."""
