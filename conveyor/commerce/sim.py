"""``conveyor sim``: run simulators of the shop platforms Conveyor syncs with, for demos and load tests."""

from __future__ import annotations

import re
from typing import Annotated

import typer

cli = typer.Typer(
    help="Simulators of shop platform APIs (demo data, real rate limits, injected faults).", no_args_is_help=True
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(ms|s|m|h))?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, option: str) -> float:
    """'50ms', '5s', '1.5m', '2h' or a bare number of seconds → seconds."""
    match = _DURATION.match(text)
    if not match:
        raise typer.BadParameter(
            f"{text!r} is not a duration; use a number with ms, s, m or h, e.g. 50ms or 5s", param_hint=option
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_rate(text: str, option: str) -> float:
    """'10/s', '600/m' or a bare number (per second) → drops per second, which must be positive."""
    match = _RATE.match(text)
    if not match:
        raise typer.BadParameter(f"{text!r} is not a rate; use e.g. 10/s or 600/m", param_hint=option)
    per_second = float(match.group(1)) / _UNIT_SECONDS[match.group(2)]
    if per_second <= 0:
        raise typer.BadParameter(f"{text!r}: the rate must be positive", param_hint=option)
    return per_second


def parse_fraction(text: str, option: str) -> float:
    """'0.02' or '2%' → 0.02; must lie in [0, 1]."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a fraction; use e.g. 0.02 or 2%", param_hint=option) from None
    if not 0.0 <= value <= 1.0:
        raise typer.BadParameter(f"{text!r} is outside 0–1 (0%–100%)", param_hint=option)
    return value


def parse_skew(text: str, option: str) -> float:
    """'-10s', '+3s', '1.5m' → seconds, negative when the simulated shop's clock is behind."""
    raw = text.strip()
    sign = -1.0 if raw.startswith("-") else 1.0
    return sign * parse_duration(raw.lstrip("+-"), option)


@cli.callback()
def _group() -> None:
    """Simulators of shop platform APIs."""


@cli.command("shoptet")
def shoptet(
    orders: Annotated[int, typer.Option(min=0, help="Orders in the shop's 90-day history.")] = 10_000,
    products: Annotated[int, typer.Option(min=1, help="Products (each with 1–6 variants).")] = 2_000,
    customers: Annotated[int, typer.Option(min=0, help="Registered customers.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Same seed, same shop.")] = 1,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8010,
    bucket: Annotated[int, typer.Option(min=1, help="Leaky bucket capacity in drops (1 drop per request).")] = 200,
    leak: Annotated[str, typer.Option(help="Leak rate of the bucket, e.g. 10/s.")] = "10/s",
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrent connections allowed per token.")] = 3,
    latency: Annotated[str, typer.Option(help="Added to every API request, e.g. 50ms.")] = "0ms",
    error_rate: Annotated[str, typer.Option(help="Share of API requests answered 500/503, e.g. 0.02 or 2%.")] = "0",
    malformed_rate: Annotated[
        str, typer.Option(help="Share of records served malformed (invalid JSON or a missing field).")
    ] = "0",
    churn: Annotated[str, typer.Option(help="New and changed orders every so often, e.g. 5s; 0 = never.")] = "0",
    job_delay: Annotated[str, typer.Option(help="How long a snapshot job takes at least, e.g. 2s.")] = "2s",
    clock_skew: Annotated[
        str, typer.Option(help="The shop's clock against this machine's, e.g. -10s (behind) or 3s (ahead).")
    ] = "0s",
) -> None:
    """Serve a simulated Shoptet e-shop: Shoptet's API, limits and formats, over your own data and faults."""
    from conveyor.commerce.shoptet.simulator import SimulatorConfig, run

    churn_seconds = parse_duration(churn, "--churn")
    try:
        config = SimulatorConfig(
            seed=seed,
            orders=orders,
            products=products,
            customers=customers,
            concurrency=concurrency,
            bucket_capacity=bucket,
            bucket_leak=parse_rate(leak, "--leak"),
            latency=parse_duration(latency, "--latency"),
            error_rate=parse_fraction(error_rate, "--error-rate"),
            malformed_rate=parse_fraction(malformed_rate, "--malformed-rate"),
            churn_interval=churn_seconds or None,
            job_delay=parse_duration(job_delay, "--job-delay"),
            clock_skew=parse_skew(clock_skew, "--clock-skew"),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    typer.echo(f"Shoptet simulator: {orders} orders, {products} products, {customers} customers (seed {seed})")
    typer.echo(f"  base URL        {base}")
    typer.echo(f"  private token   Shoptet-Private-Api-Token: {config.private_tokens[0]}")
    typer.echo(
        f"  add-on token    GET {base}/action/ApiOAuthServer/getAccessToken "
        f"with Authorization: Bearer {config.oauth_tokens[0]}"
    )
    typer.echo(f"  limits          {concurrency} connections/token, bucket {bucket} drops leaking {leak}")
    typer.echo(
        f"  webhooks        e-shop id {config.eshop_id}: add the shop with --eshop-id {config.eshop_id} "
        "--webhook-url <your server>/webhooks/shoptet (the signature key is fetched from the simulator, "
        "which makes a new one on every start)"
    )
    if config.clock_skew:
        typer.echo(f"  clock           {config.clock_skew:+g} s against this machine's")
    typer.echo(f"  controls        POST {base}/_sim/advance?new_orders=5&changed_orders=5, GET {base}/_sim/stats")
    typer.echo(f"  try             curl -H 'Shoptet-Private-Api-Token: {config.private_tokens[0]}' {base}/api/orders")
    run(config, host=host, port=port)
