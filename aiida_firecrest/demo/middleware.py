"""Demo server: request counting, latency and fault injection (to be written)."""

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the demo's middleware to ``app``."""
