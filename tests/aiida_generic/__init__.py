"""aiida-core's generic transport suite with the firecrest transport (the suite is a copy, see suite.py)."""
