"""JSON text as mailprofiles writes it everywhere: UTF-8 text as itself (``ensure_ascii=False``), ``", "`` and
``": "`` between items, keys in the order given.

``json.dumps`` with any option builds a new encoder for every call; a run writes a few JSON values per file
(manifest entry, index line, change, recap), so the one encoder is made once here. The text is the same as
``json.dumps(value, ensure_ascii=False)``'s.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

dumps: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False).encode

quoted: Callable[[str], str] = json.encoder.encode_basestring
"""A string's JSON text, the same as :data:`dumps` gives for it (which calls this very function for a string), without
the encoder's checks of the value's type: for text made field by field, a few strings per file of a run."""
