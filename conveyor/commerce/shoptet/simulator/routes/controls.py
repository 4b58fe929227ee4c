"""``/_sim/``: the simulator's own controls, outside Shoptet's API (advance time, stats, health)."""

from __future__ import annotations

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from conveyor.commerce.shoptet.simulator.data import format_time
from conveyor.commerce.shoptet.simulator.responses import ApiError
from conveyor.commerce.shoptet.simulator.state import Simulator


def add_routes(app: FastAPI, sim: Simulator) -> None:
    @app.post("/_sim/advance")
    async def advance(new_orders: int = 0, changed_orders: int = 0) -> Response:
        """Make shop traffic now: ``new_orders`` created and ``changed_orders`` moved one status forward."""
        if new_orders < 0 or changed_orders < 0 or new_orders + changed_orders > 100_000:
            raise ApiError(400, "invalid-parameter", "new_orders and changed_orders must be 0–100000.", "advance")
        result = sim.advance(new_orders, changed_orders)
        return JSONResponse({**result, "time": format_time(sim.clock())})

    @app.get("/_sim/stats")
    async def stats() -> Response:
        return JSONResponse(sim.snapshot_stats())

    @app.get("/_sim/health")
    async def health() -> Response:
        return JSONResponse({"ok": True})
