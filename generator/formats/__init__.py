"""Stage 2: the format registry, its renderers, verifiers and template engine."""
