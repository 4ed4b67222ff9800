"""aiida-core's generic transport suite with the firecrest transport (the suite is fetched at test time)."""
