"""Operations: Prometheus metrics, JSON logs and request ids.

create_app calls ``install_observability(app)``; the reconciler's ``on_finished`` hooks
include ``observe_finished_run``; ``trainctl serve`` calls ``configure_logging(level, log_format=...)``.
"""

from app.observability.install import install_observability
from app.observability.logs import ConsoleFormatter, JsonFormatter, configure_logging
from app.observability.metrics import METRICS, Metrics, observe_finished_run
from app.observability.requestid import HEADER as REQUEST_ID_HEADER
from app.observability.requestid import current_request_id

__all__ = [
    "METRICS",
    "REQUEST_ID_HEADER",
    "ConsoleFormatter",
    "JsonFormatter",
    "Metrics",
    "configure_logging",
    "current_request_id",
    "install_observability",
    "observe_finished_run",
]
