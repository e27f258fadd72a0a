"""The fuzzing schema: every field type a template can show."""
