"""The command line: a thin typer layer over the library."""
from .app import main

__all__ = ["main"]
