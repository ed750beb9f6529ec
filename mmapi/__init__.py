"""mmapi: a Prefect-free client of 360dialog's WhatsApp Marketing Messages API.

Models of requests, answers and webhooks; the async `MMClient` with throughput control;
`BatchSender` with the error taxonomy's retry rules; and (in `mmapi.sandbox`) a local
stand-in for the API used by tests and the demo. Nothing here imports Prefect, so a notebook
or another orchestrator can use it as it is.
"""

from .campaign import *  # noqa: F403
from .campaign import __all__ as _campaign_all
from .client import *  # noqa: F403
from .client import __all__ as _client_all
from .errors import *  # noqa: F403
from .errors import __all__ as _errors_all
from .models import *  # noqa: F403
from .models import __all__ as _models_all
from .sender import *  # noqa: F403
from .sender import __all__ as _sender_all
from .templates import *  # noqa: F403
from .templates import __all__ as _templates_all
from .throttle import *  # noqa: F403
from .throttle import __all__ as _throttle_all
from .transport import *  # noqa: F403
from .transport import __all__ as _transport_all
from .webhooks import *  # noqa: F403
from .webhooks import __all__ as _webhooks_all

__all__ = [
    *_campaign_all,
    *_client_all,
    *_errors_all,
    *_models_all,
    *_sender_all,
    *_templates_all,
    *_throttle_all,
    *_transport_all,
    *_webhooks_all,
]
