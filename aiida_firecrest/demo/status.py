"""Demo server: status endpoints (to be written)."""

from fastapi import APIRouter

router = APIRouter()
