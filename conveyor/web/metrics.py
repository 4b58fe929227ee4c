"""``/metrics`` for Prometheus, from the monitor's snapshot and feed.

A custom collector (prometheus-client's documented way to export numbers kept elsewhere) rather than
instrumenting the workers: the numbers already live in the database, a scrape must not cost a count over
millions of rows, and workers on many machines would otherwise each need scraping.
Counters (processed, failed, duration histogram) count jobs finished since this web process started;
Prometheus's ``rate()`` and ``increase()`` handle the reset when it restarts.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from conveyor.web.monitor import DURATION_BUCKETS, Monitor


class ConveyorCollector(Collector):
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        snap = self.monitor.snapshot()
        jobs = GaugeMetricFamily("conveyor_jobs", "Jobs in the database by queue and state", labels=["queue", "state"])
        for queue, by_state in sorted(snap.counts.items()):
            for state, n in sorted(by_state.items()):
                jobs.add_metric([queue, state], n)
        yield jobs
        paused = GaugeMetricFamily("conveyor_queue_paused", "1 if the queue is paused", labels=["queue"])
        latency = GaugeMetricFamily(
            "conveyor_queue_latency_seconds",
            "Age of the job each queue would run next (0 when nothing waits)",
            labels=["queue"],
        )
        for queue in sorted(snap.counts):
            paused.add_metric([queue], 1 if queue in snap.paused else 0)
            head = snap.head_at.get(queue)
            latency.add_metric([queue], 0.0 if head is None else max(0.0, snap.at - head))
        yield paused
        yield latency
        workers = GaugeMetricFamily("conveyor_workers", "Worker processes with a recent heartbeat")
        workers.add_metric([], len(snap.workers))
        yield workers
        executing = GaugeMetricFamily("conveyor_jobs_executing", "Jobs executing now", labels=["queue"])
        per_queue: dict[str, int] = {}
        for j in snap.executing:
            per_queue[j["queue"]] = per_queue.get(j["queue"], 0) + 1
        for queue, n in sorted(per_queue.items()):
            executing.add_metric([queue], n)
        yield executing

        processed = CounterMetricFamily(
            "conveyor_jobs_processed", "Jobs that finished (completed or failed for good)", labels=["queue", "task"]
        )
        completed = CounterMetricFamily("conveyor_jobs_completed", "Jobs that completed", labels=["queue", "task"])
        failed = CounterMetricFamily("conveyor_jobs_failed", "Jobs that failed for good", labels=["queue", "task"])
        duration = HistogramMetricFamily(
            "conveyor_job_duration_seconds", "Run time of finished jobs (last attempt)", labels=["queue", "task"]
        )
        for (queue, task), st in sorted(self.monitor.tasks.items()):
            labels = [queue, task]
            processed.add_metric(labels, st.completed + st.failed)
            completed.add_metric(labels, st.completed)
            failed.add_metric(labels, st.failed)
            buckets = [(repr(b), st.duration_buckets[i]) for i, b in enumerate(DURATION_BUCKETS)]
            buckets.append(("+Inf", st.duration_count))
            duration.add_metric(labels, buckets, st.duration_sum)
        yield processed
        yield completed
        yield failed
        yield duration


def registry_for(monitor: Monitor) -> CollectorRegistry:
    """A registry of its own per web app, so tests and several apps in one process do not collide."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ConveyorCollector(monitor))
    return registry
