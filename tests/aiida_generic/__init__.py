"""aiida-core's generic transport suite with the firecrest transport (the suite file is a copy kept outside)."""
