"""The web side of Conveyor: a JSON API (``/api``), a live dashboard, server-sent events, ``/metrics``.

``create_app(conveyor_app)`` builds the FastAPI application; ``conveyor web`` and ``conveyor up`` serve it.
Needs the ``web`` extra (FastAPI, uvicorn, Jinja2, prometheus-client).
"""

from conveyor.web.app import create_app

__all__ = ["create_app"]
