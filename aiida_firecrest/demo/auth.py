"""Demo server: auth endpoints (to be written)."""

from fastapi import APIRouter

router = APIRouter()
