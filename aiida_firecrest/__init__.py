"""AiiDA transport and scheduler plugins for HPC centres behind the FirecREST v2 REST API."""

from .redaction import install_log_redaction

__version__ = '0.1.0'

install_log_redaction()  # no token, secret or presigned URL in a log record, whoever configures logging
