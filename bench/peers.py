"""Conveyor against the Python job queues users would otherwise pick: same workloads, machine and run.

Peers: procrastinate and pgqueuer (PostgreSQL); celery, dramatiq, rq and arq (Redis); huey on SQLite and
on Redis. Oban (Elixir) is skipped: its packages come from Hex, which this machine cannot reach. Each peer
is installed, at a pinned version, in its own venv under ``.bench/venvs/<peer>`` (gitignored, never
vendored) and measured by ``bench/peers/driver.py`` running in that venv.

Workload, per library and repeat, on a fresh backend (a scratch PostgreSQL database
``bench_peers_<random>`` dropped afterwards, Redis db ``--redis-db`` flushed before and after, SQLite in a
temp dir):

* enqueue single: min(jobs, 5000) no-op jobs, one API call each, from one thread (async libraries:
  sequential awaits on one event loop), in jobs/s;
* enqueue bulk: ``--jobs`` jobs through the library's bulk API (rq ``enqueue_many``, procrastinate
  ``batch_defer_async``, pgqueuer ``enqueue`` with lists), twice: in calls of ``--bulk-size`` (1,000, the
  size users pass: "bulk 1k") and in one call ("bulk"); "n/a" where there is no bulk API, and those jobs
  are then sent one by one, untimed;
* processed: 2 worker processes (per library, see bench/peers/<name>_peer.py) are started on the full
  queue; rate = finished jobs / (last task start − first task start), so process start-up is not counted.
  Each task's only work is ``probe.body()``: one 18-byte ``O_APPEND`` write of its start time to a file,
  then the workload's body (``--body``, both by default): ``noop`` nothing more; ``incr`` one Redis ``INCR``
  round trip (a plain socket, RESP written by hand, the same code in every venv: the network round trip
  any real task makes);
* latency: with the workers idle, ``--latency-samples`` jobs are sent one at a time: task start time minus
  the time just before the enqueue call, p50/p95 in ms.

Conveyor's figures come from ``bench/throughput.py --backend {postgres,sqlite} --jobs N --json`` (same
single/bulk/processed/latency definitions, timestamps read from its jobs table; on PostgreSQL also a bare
``INSERT; COMMIT`` loop on the same connection, the floor single enqueue is compared with). Each figure is
the median of ``--repeat`` runs. Ratios, per workload: Conveyor-postgres against the fastest PostgreSQL peer
and, separately, the fastest Redis peer; Conveyor-sqlite against huey-sqlite.

Machine: 2 cores, 24 GiB, no swap; PostgreSQL 15 and Redis on 127.0.0.1 (loopback only), SQLite in WAL
mode on local disk; Python 3.11. Run: ``python bench/peers.py [--jobs 10000] [--repeat 3]
[--body noop,incr] [--peers pgqueuer,huey-sqlite,dramatiq] [--skip-install]``. Method and results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "bench" / "peers" / "driver.py"
THROUGHPUT = ROOT / "bench" / "throughput.py"

# venv name → pinned requirements. Peers are measured by name; "huey-sqlite" and "huey-redis" share a venv.
PINS: dict[str, list[str]] = {
    "procrastinate": ["procrastinate==3.10.0", "psycopg[binary]==3.3.9"],
    "pgqueuer": ["pgqueuer==1.6.0", "asyncpg==0.32.0", "psycopg[binary]==3.3.9"],
    "celery": ["celery[redis]==5.7.0", "redis==8.1.0"],
    "dramatiq": ["dramatiq[redis]==2.2.1", "redis==8.1.0"],
    "rq": ["rq==2.12.0", "redis==8.1.0"],
    "arq": ["arq==0.28.0"],
    "huey": ["huey==3.5.4", "redis==8.1.0"],
}
PEERS: dict[str, tuple[str, str]] = {  # peer → (venv, backend kind)
    "procrastinate": ("procrastinate", "postgres"),
    "pgqueuer": ("pgqueuer", "postgres"),
    "celery": ("celery", "redis"),
    "dramatiq": ("dramatiq", "redis"),
    "rq": ("rq", "redis"),
    "arq": ("arq", "redis"),
    "huey-sqlite": ("huey", "sqlite"),
    "huey-redis": ("huey", "redis"),
}
CONVEYOR_BACKEND = {"postgres": "postgres", "redis": "postgres", "sqlite": "sqlite"}
FIGURES = [
    "enqueue_single_per_s",
    "enqueue_bulk_small_per_s",
    "enqueue_bulk_per_s",
    "processed_per_s",
    "latency_p50_ms",
    "latency_p95_ms",
]
FLOOR = "bare_insert_commit_per_s"  # Conveyor on PostgreSQL only: the bare INSERT; COMMIT loop
# The targets, per figure: Conveyor / best peer of the same backend kind (latency: absolute, ms).
TARGETS = {"processed_per_s": 2.0, "enqueue_bulk_small_per_s": 2.0, "enqueue_bulk_per_s": 2.0}
LATENCY_TARGETS = {"latency_p50_ms": 2.0, "latency_p95_ms": 5.0}
SINGLE_VS_FLOOR = 0.9
OBAN_SKIP = (
    "oban: skipped (Elixir): Oban and its dependencies (ecto_sql, postgrex) are published only on Hex, "
    "which this machine cannot reach (only PyPI, Debian and npm are); Debian's elixir alone cannot run it"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


def install(venv_root: Path, name: str, skip: bool) -> str | None:
    """Create/refresh the venv; returns an error message, or None when it is ready."""
    venv = venv_root / name
    python = venv / "bin" / "python"
    if skip:
        return None if python.exists() else f"--skip-install given but {venv} does not exist"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300, capture_output=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS[name]],
            check=True,
            timeout=900,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as e:
        return f"install failed: {(e.stderr or e.stdout or '')[-800:]}"
    except subprocess.TimeoutExpired:
        return "install timed out"
    return None


def run_json(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run cmd, return its last stdout line as JSON; SIGTERM (then SIGKILL) it on timeout."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT, stdin=subprocess.DEVNULL
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the driver stops its workers and drops its database on SIGTERM
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in out.splitlines() if ln.strip()]
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": f"exit {proc.returncode}, no JSON result; stderr: {err[-800:]}"}
    if not isinstance(result, dict):
        return {"error": f"unexpected output {lines[-1]!r}"}
    return result


def median_of(runs: list[dict[str, object]]) -> dict[str, object]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[-1].get("error", "no run") if runs else "no run"}
    out: dict[str, object] = {k: v for k, v in ok[0].items() if k not in FIGURES}
    for f in [*FIGURES, FLOOR]:
        values = [float(v) for r in ok if isinstance(v := r.get(f), int | float)]
        out[f] = statistics.median(values) if values else None
    out["runs"] = len(ok)
    return out


def fmt(v: object, latency: bool = False) -> str:
    if not isinstance(v, int | float):
        return "n/a"
    return f"{v:.2f}" if latency else f"{v:,.0f}"


def print_table(rows: list[tuple[str, str, str, dict[str, object]]]) -> None:
    head = ["library", "backend", "version", "single/s", "bulk 1k/s", "bulk/s", "processed/s", "p50 ms", "p95 ms"]
    body = []
    for name, kind, version, r in rows:
        if "error" in r:
            body.append([name, kind, version, f"failed: {str(r['error']).splitlines()[0][:70]}"])
            continue
        body.append(
            [
                name,
                kind,
                version,
                fmt(r["enqueue_single_per_s"]),
                fmt(r.get("enqueue_bulk_small_per_s")),
                fmt(r["enqueue_bulk_per_s"]),
                fmt(r["processed_per_s"]),
                fmt(r["latency_p50_ms"], True),
                fmt(r["latency_p95_ms"], True),
            ]
        )
    widths = [max(len(str(row[i])) for row in [head, *body] if i < len(row)) for i in range(len(head))]
    for row in [head, ["-" * w for w in widths], *body]:
        cells = [
            str(c).rjust(w) if i >= 3 and len(row) == len(head) else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=False))
        ]
        print("  ".join(cells).rstrip())


def ratio_lines(conveyor: dict[str, dict[str, object]], peers: dict[str, dict[str, object]]) -> list[str]:
    lines = []
    for group in ("postgres", "redis", "sqlite"):
        members = {p: r for p, r in peers.items() if PEERS[p][1] == group and "error" not in r}
        if not members:
            continue
        cb = CONVEYOR_BACKEND[group]
        conv = conveyor.get(cb, {"error": "not run"})
        for f in FIGURES:
            latency = f.startswith("latency")
            have = {p: float(v) for p, r in members.items() if isinstance(v := r.get(f), int | float)}
            if not have:
                lines.append(f"ratio {f} {group}: n/a (no peer on {group} has this figure)")
                continue
            best = (min if latency else max)(have, key=have.__getitem__)
            unit = " ms" if latency else "/s"
            c = conv.get(f)
            if not isinstance(c, int | float) or have[best] == 0:
                why = conv.get("error", "figure missing")
                lines.append(
                    f"ratio {f} {group}: n/a (conveyor-{cb}: {why}; best peer {best} {fmt(have[best], latency)}{unit})"
                )
                continue
            note = "; lower is better" if latency else ""
            ratio = float(c) / have[best]
            if group != "redis" and f in TARGETS:
                note += f"; target >= {TARGETS[f]:g}x {'met' if ratio >= TARGETS[f] else 'NOT met'}"
            if group != "redis" and f in LATENCY_TARGETS:
                note += f"; target <= {LATENCY_TARGETS[f]:g} ms {'met' if c <= LATENCY_TARGETS[f] else 'NOT met'}"
            lines.append(
                f"ratio {f} {group}: {ratio:.2f}x (conveyor-{cb} {fmt(c, latency)}{unit} "
                f"vs {best} {fmt(have[best], latency)}{unit}{note})"
            )
    pg = conveyor.get("postgres", {})
    single, floor = pg.get("enqueue_single_per_s"), pg.get(FLOOR)
    if isinstance(single, int | float) and isinstance(floor, int | float) and floor:
        ratio = single / floor
        lines.append(
            f"ratio enqueue_single_per_s / bare INSERT+COMMIT loop, same connection, postgres: {ratio:.2f}x "
            f"({fmt(single)}/s vs {fmt(floor)}/s; target >= {SINGLE_VS_FLOOR:g}x "
            f"{'met' if ratio >= SINGLE_VS_FLOOR else 'NOT met'})"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=10_000, help="jobs per bulk batch / processing run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per library; figures are medians")
    ap.add_argument(
        "--peers", default="all", help=f"comma-separated subset of {', '.join(PEERS)} ('huey' = both huey backends)"
    )
    ap.add_argument(
        "--body", default="noop,incr", help="task bodies to measure, comma-separated: noop, incr (see the header)"
    )
    ap.add_argument("--bulk-size", type=int, default=1000, help="jobs per call of the 'bulk 1k' figure")
    ap.add_argument("--skip-install", action="store_true", help="reuse the venvs as they are")
    ap.add_argument("--skip-conveyor", action="store_true", help="measure the peers only")
    ap.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="threads/coroutines per worker process where the library has such a knob",
    )
    ap.add_argument("--latency-samples", type=int, default=200)
    ap.add_argument("--drain-timeout", type=float, default=600.0, help="seconds allowed to drain the queue")
    ap.add_argument("--venvs", type=Path, default=ROOT / ".bench" / "venvs")
    ap.add_argument(
        "--pg-admin-dsn",
        default=os.environ.get("CONVEYOR_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    ap.add_argument("--redis-db", type=int, default=13, help="Redis db number, flushed before and after")
    ap.add_argument("--json", type=Path, help="also write every run's raw figures to this file")
    a = ap.parse_args()

    if a.peers == "all":
        selected = list(PEERS)
    else:
        selected = []
        for p in (s.strip() for s in a.peers.split(",") if s.strip()):
            names = [n for n in PEERS if n == p or n.startswith(p + "-")]
            if not names:
                ap.error(f"unknown peer {p!r}; choose from {', '.join(PEERS)}")
            selected += [n for n in names if n not in selected]

    bodies = [b.strip() for b in a.body.split(",") if b.strip()]
    if not bodies or any(b not in ("noop", "incr") for b in bodies):
        ap.error(f"--body takes noop, incr or both (comma-separated), got {a.body!r}")
    if "incr" in bodies and not reachable("127.0.0.1", 6379):
        ap.error("--body incr needs Redis on 127.0.0.1:6379 (the task body is one INCR there)")
    os.environ["BENCH_INCR_DB"] = str(a.redis_db)  # read by probe.incr in every worker process
    print(
        f"workloads: {', '.join(bodies)}; {a.jobs} jobs per bulk call, median of {a.repeat} run(s), 2 worker "
        f"processes; {os.cpu_count()} cores; servers on 127.0.0.1; load average before: "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(OBAN_SKIP)

    skipped: dict[str, str] = {}
    up = {"postgres": reachable("127.0.0.1", 5432), "redis": reachable("127.0.0.1", 6379), "sqlite": True}
    for p in selected:
        if not up[PEERS[p][1]]:
            skipped[p] = f"{PEERS[p][1]} is not reachable on 127.0.0.1"
    venvs = sorted({PEERS[p][0] for p in selected if p not in skipped})
    for v in venvs:
        log(f"{'checking' if a.skip_install else 'installing'} {v} venv: {' '.join(PINS[v])}")
        err = install(a.venvs, v, a.skip_install)
        for p in selected:
            if err and PEERS[p][0] == v:
                skipped[p] = err
    todo = [p for p in selected if p not in skipped]

    all_runs: dict[str, object] = {}
    for body in bodies:
        all_runs[body] = measure_body(a, body, todo, skipped)
    if a.json:
        a.json.write_text(json.dumps(all_runs, indent=2))


def measure_body(a: argparse.Namespace, body: str, todo: list[str], skipped: dict[str, str]) -> dict[str, object]:
    """Conveyor and every peer on one task body; prints that workload's table and ratios, returns raw runs."""
    conveyor: dict[str, dict[str, object]] = {}
    conveyor_runs: dict[str, list[dict[str, object]]] = {}
    backends = sorted({CONVEYOR_BACKEND[PEERS[p][1]] for p in todo})
    conveyor_python = ROOT / ".venv" / "bin" / "python"
    for b in backends:
        if a.skip_conveyor:
            conveyor[b] = {"error": "--skip-conveyor"}
            continue
        if not THROUGHPUT.exists() or not conveyor_python.exists():
            conveyor[b] = {"error": f"{THROUGHPUT.relative_to(ROOT)} or .venv missing"}
            print(f"conveyor-{b}: not measured: {conveyor[b]['error']}; peer figures only")
            continue
        env = {**os.environ, "CONVEYOR_BENCH_POSTGRES_URL": a.pg_admin_dsn}
        runs = []
        for i in range(a.repeat):
            log(f"conveyor-{b} ({body}): run {i + 1}/{a.repeat}")
            runs.append(
                run_json(
                    [
                        str(conveyor_python),
                        str(THROUGHPUT),
                        "--backend",
                        b,
                        "--jobs",
                        str(a.jobs),
                        "--body",
                        body,
                        "--bulk-size",
                        str(a.bulk_size),
                        "--json",
                    ],
                    timeout=a.drain_timeout + 600,
                    env=env,
                )
            )
        conveyor_runs[b] = runs
        conveyor[b] = median_of(runs)

    peer_runs: dict[str, list[dict[str, object]]] = {p: [] for p in todo}
    for i in range(a.repeat):
        for p in todo:
            log(f"{p} ({body}): run {i + 1}/{a.repeat}")
            python = a.venvs / PEERS[p][0] / "bin" / "python"
            r = run_json(
                [
                    str(python),
                    str(DRIVER),
                    "--peer",
                    p,
                    "--jobs",
                    str(a.jobs),
                    "--concurrency",
                    str(a.concurrency),
                    "--latency-samples",
                    str(a.latency_samples),
                    "--drain-timeout",
                    str(a.drain_timeout),
                    "--pg-admin-dsn",
                    a.pg_admin_dsn,
                    "--redis-url",
                    f"redis://127.0.0.1:6379/{a.redis_db}",
                    "--body",
                    body,
                    "--bulk-size",
                    str(a.bulk_size),
                ],
                timeout=a.drain_timeout + 900,
            )
            if "error" in r:
                log(f"{p}: run {i + 1} failed: {r['error']}")
            peer_runs[p].append(r)
    peers = {p: median_of(runs) for p, runs in peer_runs.items()}

    print()
    print(f"== workload {body!r}: " + ("empty task" if body == "noop" else "one Redis INCR round trip per task"))
    rows = [(f"conveyor-{b}", b, "repo", r) for b, r in conveyor.items() if not a.skip_conveyor]
    rows += [(p, PEERS[p][1], str(r.get("version", "?")), r) for p, r in peers.items()]
    print_table(rows)
    print()
    for p, why in skipped.items():
        print(f"{p}: skipped: {why.splitlines()[0]}")
    for p, r in peers.items():
        if "error" in r:
            print(f"{p}: failed: {r['error']}")
    print("versions: " + ", ".join(f"{p} {r['version']}" for p, r in peers.items() if "version" in r))
    for line in ratio_lines(conveyor, peers):
        print(f"[{body}] {line}")
    sys.stdout.flush()
    return {"conveyor": conveyor_runs, "peers": peer_runs}


if __name__ == "__main__":
    t0 = time.monotonic()
    main()
    log(f"done in {time.monotonic() - t0:.0f} s")
