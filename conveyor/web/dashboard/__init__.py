"""The live web dashboard: server-rendered pages (Jinja2), one small hand-written script, SVG charts.

``router`` holds the HTML pages; :func:`conveyor.web.create_app` includes it and serves ``STATIC_DIR`` at
``/static``. ``add_nav_item`` appends a page to the navigation; ``add_template_dir``, ``render`` and ``templates`` let
another pack draw its own pages in the same layout (``{% extends "base.html" %}``).
"""

from conveyor.web.dashboard.views import (
    NAV,
    STATIC_DIR,
    TEMPLATES_DIR,
    NavItem,
    add_nav_item,
    add_template_dir,
    not_found_page,
    render,
    router,
    templates,
)

__all__ = [
    "NAV",
    "STATIC_DIR",
    "TEMPLATES_DIR",
    "NavItem",
    "add_nav_item",
    "add_template_dir",
    "not_found_page",
    "render",
    "router",
    "templates",
]
