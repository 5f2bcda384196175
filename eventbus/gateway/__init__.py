"""The HTTP gateway: EventBridge's API (AWS JSON 1.1, SigV4), CloudEvents, health and metrics.

Modules: ``awsjson`` (the wire protocol and its errors), ``actions`` (PutEvents,
TestEventPattern and the read-only rule views), ``auth`` (access keys, SigV4 on requests),
``cloudevents_route`` (``POST /cloudevents/{bus}``), ``health`` (router heartbeats),
``app`` (the Starlette application) and ``server`` (uvicorn, standalone or inside a router).
Nothing is imported here, so ``health`` stays cheap for routers that only write heartbeats.
"""

from __future__ import annotations
