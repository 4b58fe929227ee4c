"""``/action/ApiOAuthServer/getAccessToken``: an add-on's installation token exchanged for an access token."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from conveyor.commerce.shoptet.simulator.state import Simulator


def add_routes(app: FastAPI, sim: Simulator) -> None:
    @app.get("/action/ApiOAuthServer/getAccessToken")
    async def get_access_token(request: Request) -> Response:
        """Trade an add-on's OAuth token (``Authorization: Bearer …``) for a short-lived API access token."""
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in sim.tokens.oauth:
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        issued = sim.tokens.issue(token.strip())
        if issued is None:
            return JSONResponse({"error": "maximum_tokens_reached"}, status_code=429)
        return JSONResponse({"access_token": issued.token, "expires_in": int(sim.config.access_token_ttl)})
