"""The client bridge: SDK commands reach the apps over WebSocket, and the SDKs' callbacks come
back as events (the ``bridge`` extra: ``pip install recstate[bridge]``).

:class:`Bridge` is the hub (tokens, which connection serves which session, at-least-once
delivery with ids both ways); :func:`bridge_routes` / :func:`bridge_app` serve it with
Starlette; ``clients/js`` is the browser client. Protocol and guarantees:
``docs/architecture.md``, section Bridge.
"""

from recstate.bridge.app import REFUSED, bridge_app, bridge_routes, client_dir, demo_dir
from recstate.bridge.hub import Bridge, Connection, Outgoing, Refused
from recstate.bridge.tokens import Grant, TokenRefused, Tokens

__all__ = [
    "REFUSED",
    "Bridge",
    "Connection",
    "Grant",
    "Outgoing",
    "Refused",
    "TokenRefused",
    "Tokens",
    "bridge_app",
    "bridge_routes",
    "client_dir",
    "demo_dir",
]
