"""Compute policies shipped with the package (TOML)."""
