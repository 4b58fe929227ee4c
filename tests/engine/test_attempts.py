"""A job's attempts are fixed when it is written: the task's, the enqueue call's, else the setting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conveyor import Conveyor


@pytest.fixture
def app5(sqlite_url: str) -> Iterator[Conveyor]:
    a = Conveyor(sqlite_url, max_attempts=5)
    a.migrate()
    yield a
    a.close()


def test_a_task_without_max_attempts_stores_the_setting(app5: Conveyor) -> None:
    @app5.task
    def plain() -> None: ...

    assert app5.get_job(plain.enqueue()).max_attempts == 5


def test_the_tasks_own_max_attempts_wins_over_the_setting(app5: Conveyor) -> None:
    @app5.task(max_attempts=2)
    def declared() -> None: ...

    assert app5.get_job(declared.enqueue()).max_attempts == 2
    assert app5.get_job(app5.enqueue("declared", max_attempts=7)).max_attempts == 7  # the call wins over both


def test_a_job_enqueued_by_name_for_an_unknown_task_stores_the_setting(app5: Conveyor) -> None:
    ids = app5.enqueue_many([{"task": "elsewhere"}, {"task": "elsewhere", "max_attempts": 1}])
    assert [app5.get_job(i).max_attempts for i in ids] == [5, 1]


def test_the_setting_comes_from_the_environment(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_MAX_ATTEMPTS", "4")
    assert Conveyor(sqlite_url).settings.max_attempts == 4


def test_a_setting_below_one_is_refused(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        Conveyor(sqlite_url, max_attempts=0)
