"""AiiDA transport and scheduler plugins for HPC centres behind the FirecREST v2 REST API."""

__version__ = '0.1.0'
