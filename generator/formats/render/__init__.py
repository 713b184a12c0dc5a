"""Renderers: one module per format, each owning its vocabulary tables.

A renderer module provides ``limitations(org, subject)`` (what the format cannot express,
as findings that tell the user what to do; a finding whose code is in ``SKIPS`` means the
artifact is not produced) and ``render(site, subject) -> bytes`` with the format's encoding
and line endings. The format registry (``registry.py``) names them; ``subject`` is of
the type its scope fixes (``subjects.py``: a ``Device``, ``UserDevices``, ...).
"""
