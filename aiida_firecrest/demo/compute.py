"""Demo server: compute endpoints (to be written)."""

from fastapi import APIRouter

router = APIRouter()
