"""The product's version (one place: the package and the input fingerprints read it)."""
__version__ = "0.2.0"
