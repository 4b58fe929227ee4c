"""``/api/system/jobs`` (the asynchronous jobs snapshots run as) and ``/api-results/`` (their gzipped files)."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse

from conveyor.commerce.shoptet.simulator.responses import ApiError, envelope, page_params, paginate, time_param, within
from conveyor.commerce.shoptet.simulator.state import Simulator


def add_routes(app: FastAPI, sim: Simulator) -> None:
    ttl = sim.config.result_ttl

    @app.get("/api/system/jobs")
    async def list_jobs(request: Request) -> Response:
        page, per_page = page_params(request, 100, 500)
        status = request.query_params.get("status")
        bounds = [
            time_param(request, n)
            for n in ("creationTimeFrom", "creationTimeTo", "completionTimeFrom", "completionTimeTo")
        ]
        now = sim.clock()
        jobs = []
        for job in sorted(sim.jobs.values(), key=lambda j: j.created, reverse=True):
            summary = job.summary(ttl, now)
            if status and summary["status"] != status:
                continue
            if not within(job.created, bounds[0], bounds[1]):
                continue
            if (bounds[2] is not None or bounds[3] is not None) and not (
                job.completed is not None and within(job.completed, bounds[2], bounds[3])
            ):
                continue
            jobs.append(summary)
        window, paginator = paginate(len(jobs), page, per_page)
        return envelope(request, {"jobs": jobs[window], "paginator": paginator})

    @app.get("/api/system/jobs/{job_id}")
    async def job_detail(job_id: str, request: Request) -> Response:
        job = sim.jobs.get(job_id)
        if job is None:
            raise ApiError(404, "job-not-found", f'Job with ID "{job_id}" not found.', job_id)
        if job.status_at(sim.clock()) in ("pending", "running"):
            job.polls += 1
            if job.polls > sim.config.job_max_polls:
                raise ApiError(
                    403,
                    "job-detail-try-counter-exceeded-limit",
                    f'You have exceeded the limit of job detail request for unprocessed job "{job_id}". '
                    "Please wait for job:finished event after job is completed!",
                    job_id,
                )
        return envelope(request, {"job": job.as_json(ttl, sim.clock())})

    @app.get("/api-results/{name}")
    async def job_result(name: str) -> Response:
        """The result file: no token needed, like Shoptet's (the official SDK downloads it without auth)."""
        job = next((j for j in sim.jobs.values() if j.result_name == name), None)
        until = job.valid_until(ttl) if job else None
        if job is None or job.path is None or until is None or until <= sim.clock():
            return Response("Not Found", status_code=404, media_type="text/plain")
        return FileResponse(job.path, media_type="application/gzip", filename=name)
