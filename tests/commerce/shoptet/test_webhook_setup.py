"""Wiring webhooks (issue #11, 4): registering survives Shoptet's 423/429, a shop added without a webhook
URL gets one later (and the snapshot refusal says how), and the demo keeps its shop's data when the
simulator comes back on another port."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.commerce.shoptet import pipelines
from conveyor.commerce.shoptet.errors import JobFinishedWebhookMissing
from conveyor.commerce.store import ExecutionStatus
from conveyor.commerce.store.schema import orders
from tests.commerce.shoptet.test_pipelines import WebhookForwarder, running_shop


def test_registering_webhooks_waits_out_a_rate_limit_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    with running_shop(url, tmp_path, bucket_capacity=2, bucket_leak=2.0) as rig:
        forwarder = WebhookForwarder(rig.app)
        try:
            new = pipelines.register_webhooks(rig.app, rig.shop.id, forwarder.url)
        finally:
            forwarder.close()

        assert new == list(pipelines.DEFAULT_WEBHOOK_EVENTS)
        assert rig.responses(429) >= 1
        assert {h.event for h in rig.sim.webhooks.values()} == set(pipelines.DEFAULT_WEBHOOK_EVENTS)


def test_a_snapshot_refused_for_a_missing_webhook_names_the_command_that_adds_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    with running_shop(url, tmp_path) as rig:
        execution_id = pipelines.request_snapshot(rig.app, rig.shop.id, "orders")
        rig.work()

        execution = pipelines.get_execution(rig.app, execution_id)
        assert execution.status is ExecutionStatus.ERROR
        assert "conveyor shoptet shops update acme --webhook-url" in (execution.error or "")
        assert rig.count(orders) == 0
        assert issubclass(JobFinishedWebhookMissing, Exception)


def test_updating_a_shops_webhook_url_registers_its_webhooks_and_snapshots_then_work(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    with running_shop(url, tmp_path) as rig:
        forwarder = WebhookForwarder(rig.app)
        try:
            pipelines.update_shop(rig.app, rig.shop.id, webhook_url=forwarder.url)
            execution_id = pipelines.request_snapshot(rig.app, rig.shop.id, "orders")
            rig.work()
        finally:
            forwarder.close()

        assert pipelines.get_execution(rig.app, execution_id).status is ExecutionStatus.COMPLETED
        assert rig.count(orders) == 150


def test_a_webhook_url_that_is_not_http_is_refused_and_nothing_is_registered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    with running_shop(url, tmp_path) as rig:
        with pytest.raises(Exception, match="the webhook URL must start with http:// or https://"):
            pipelines.update_shop(rig.app, rig.shop.id, webhook_url="ftp://example.com/hook")

        assert rig.sim.webhooks == {}


def test_moving_a_shop_to_another_api_url_keeps_its_synced_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conveyor.db'}"
    with running_shop(url, tmp_path) as rig:
        rig.run()

        moved = pipelines.update_shop(rig.app, rig.shop.id, base_url="http://127.0.0.1:9/")

        assert moved.base_url == "http://127.0.0.1:9" and moved.id == rig.shop.id
        assert rig.count(orders) == 150 and rig.cursor() is not None
