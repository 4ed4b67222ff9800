"""Tests of the firecrest transport, its client and its transfers."""
