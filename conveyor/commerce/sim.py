"""``conveyor sim``: run simulators of the shop platforms and supplier feeds Conveyor works with, for demos and
load tests."""

from __future__ import annotations

import re
from typing import Annotated

import typer

cli = typer.Typer(
    help="Simulators of shop platform APIs and supplier feeds (demo data, real limits, injected faults).",
    no_args_is_help=True,
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
    """Simulators of shop platform APIs and supplier feeds."""


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


@cli.command("feeds")
def feeds(
    items: Annotated[int, typer.Option(min=0, help="Items in every supplier's feed (1,000,000 ≈ 90 MB CSV).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Same seed, same feeds.")] = 1,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8020,
    supplier: Annotated[
        list[str] | None,
        typer.Option(help="A supplier that exists (repeat for more); by default any name in the URL is one."),
    ] = None,
    latency: Annotated[str, typer.Option(help="Added to every feed request, e.g. 50ms.")] = "0ms",
    change_share: Annotated[str, typer.Option(help="Share of items that change in each generation.")] = "0.02",
    change_every: Annotated[
        str, typer.Option(help="A new generation of changes every so often, e.g. 60s; 0 = only on POST /_sim/advance.")
    ] = "0",
    text_stock_share: Annotated[
        str, typer.Option(help="Share of items whose stock is text (skladem, >5, 5+, na dotaz).")
    ] = "0.1",
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Inject into every feed request (repeat or comma-separate): 401, 500, html200, garbage, "
            "malformed, slow, truncated."
        ),
    ] = None,
    malformed_share: Annotated[str, typer.Option(help="Share of rows a 'malformed' feed breaks.")] = "0.05",
    slow: Annotated[str, typer.Option(help="How long a 'slow' feed holds its body back, e.g. 30s.")] = "30s",
    etag: Annotated[bool, typer.Option("--etag/--no-etag", help="Send ETag/Last-Modified and answer 304.")] = True,
    user: Annotated[str | None, typer.Option(help="Require HTTP basic auth with this user (and --password).")] = None,
    password: Annotated[str | None, typer.Option(help="The basic auth password.")] = None,
    api_key: Annotated[str | None, typer.Option(help="Require this API key in the --api-key-header header.")] = None,
    api_key_header: Annotated[str, typer.Option(help="The header that carries the API key.")] = "X-Api-Key",
) -> None:
    """Serve simulated supplier feeds: CSV (cp1250), Heureka XML and Google Merchant RSS, plain or gzipped."""
    from conveyor.commerce.feeds.simulator import DEFAULT_SUPPLIER, FORMATS, SimulatorConfig, run

    every = parse_duration(change_every, "--change-every")
    faults = tuple(f.strip() for value in fault or [] for f in value.split(",") if f.strip())
    try:
        config = SimulatorConfig(
            seed=seed,
            items=items,
            suppliers=tuple(supplier or ()),
            change_share=parse_fraction(change_share, "--change-share"),
            change_every=every or None,
            text_stock_share=parse_fraction(text_stock_share, "--text-stock-share"),
            etag=etag,
            username=user,
            password=password,
            api_key=api_key,
            api_key_header=api_key_header,
            latency=parse_duration(latency, "--latency"),
            faults=faults,
            malformed_share=parse_fraction(malformed_share, "--malformed-share"),
            slow_seconds=parse_duration(slow, "--slow"),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    shown = f"[{host}]" if ":" in host else host
    base = f"http://{shown}:{port}"
    first = config.suppliers[0] if config.suppliers else DEFAULT_SUPPLIER
    who = ", ".join(config.suppliers) if config.suppliers else f"any name (e.g. {DEFAULT_SUPPLIER})"
    typer.echo(f"Feed simulator: {items:,} items per feed (seed {seed})")
    typer.echo(f"  suppliers       {who}")
    typer.echo(f"  feeds           {base}/feeds/{first}/{{{','.join(FORMATS)}}}")
    if user:
        typer.echo(f"  basic auth      {user} / {password}")
    if api_key:
        typer.echo(f"  API key         {api_key_header}: {api_key}")
    changes = f"every {change_every}" if every else "on POST /_sim/advance only"
    typer.echo(f"  changes         {config.change_share:.1%} of items per generation, {changes}")
    if faults:
        typer.echo(f"  faults          {', '.join(faults)} (per request: ?fault=…)")
    typer.echo(f"  controls        POST {base}/_sim/advance, GET {base}/_sim/stats; ?fault=500 or ?etag=0 per request")
    typer.echo(f"  try             curl -s {base}/feeds/{first}/stock.csv | iconv -f cp1250 | head")
    run(config, host=host, port=port)
