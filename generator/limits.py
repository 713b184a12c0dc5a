"""Bounds and confinement for untrusted input: every documented limit in one place (README, Troubleshooting)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Limits:
    """Documented bounds for untrusted input (see README, Troubleshooting)."""

    max_yaml_bytes: int = 32 * 1024 * 1024
    max_csv_bytes: int = 256 * 1024 * 1024
    max_depth: int = 64
    max_alias_expansion: int = 100_000
    max_csv_line_chars: int = 65_536
    max_csv_columns: int = 64
    max_value_chars: int = 1024
    max_nodes: int = 100_000            # YAML values per document; larger user lists belong in a CSV roster
    max_diagnostics: int = 100          # problems listed; the rest are counted
    allowed_roots: tuple[str, ...] = ()  # folders besides the inventory's that users_file/profiles_dir may name


DEFAULT_LIMITS = Limits()


def relative_to(base: Path, value: str) -> Path:
    target = Path(value)
    return target if target.is_absolute() else base / target


def confined(base: Path, value: str, limits: Limits) -> tuple[Path, str | None]:
    """``value`` (relative to ``base``) and, when it leads outside ``base`` and every allowed root, why not.

    Links are resolved first, so a link inside the folder cannot lead out of it either.
    """
    target = relative_to(base, value)
    real = target.resolve()
    for root in (base, *(Path(r) for r in limits.allowed_roots)):
        root = root.resolve()
        if real == root or root in real.parents:
            return target, None
    return target, "leads outside the inventory's folder"
