"""Demo server: filesystem endpoints (to be written)."""

from fastapi import APIRouter

router = APIRouter()
