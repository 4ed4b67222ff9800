"""The test suite of aiida-firecrest (a package so that tests can import ``tests._harness``)."""
