"""A demo FirecREST v2 server: a faithful local test double of the real API.

It serves the same paths, status codes and JSON shapes as a real FirecREST v2 deployment
(see ``shared/firecrest-v2`` recordings), backed by this machine's filesystem, a local
Slurm-like (or PBS-like) job runner and an S3 endpoint (moto) for staged transfers.
"""
