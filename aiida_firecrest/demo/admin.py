"""Demo server: admin endpoints (to be written)."""

from fastapi import APIRouter

router = APIRouter()
