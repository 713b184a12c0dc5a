"""``check-servers``: the servers of an inventory checked as the generated files will use them."""
from .check import (
    FAILED,
    OK,
    WARNING,
    Endpoint,
    ServerCheck,
    check_bounded,
    check_endpoint,
    check_servers,
    endpoints,
    tls_context,
)

__all__ = ["FAILED", "OK", "WARNING", "Endpoint", "ServerCheck", "check_bounded", "check_endpoint", "check_servers",
           "endpoints", "tls_context"]
