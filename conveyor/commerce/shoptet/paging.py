"""Paged list endpoints read as one stream of records, and the check of each record against its model.

Shoptet's lists are paged (``page``, ``itemsPerPage``, ``data.paginator``) and shift while they are read
when records change; :class:`PageStream` hides the pages and copes with the shifting (see its docstring).
:func:`validate` turns a record that does not match its model into a
:class:`~conveyor.commerce.shoptet.errors.MalformedResponse` naming the record.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from conveyor.commerce.shoptet.errors import MalformedResponse
from conveyor.commerce.shoptet.models import Paginator, schema_errors

log = logging.getLogger("conveyor.commerce.shoptet")


M = TypeVar("M", bound=BaseModel)


class PageStream(Generic[M]):
    """The records of a paged list endpoint, one at a time; the next page is fetched only when needed.

    Only one page is held in memory, plus the set of identifiers already yielded: Shoptet warns that
    when ``totalCount`` changes during paging, records shift between pages and may be missed or seen
    twice. A record seen twice is skipped. When the count *drops* (records left the filter: deleted, or
    changed out of a ``changeTime`` window), records may have moved back to a page already read, so the
    stream steps back as many pages as the drop spans and reads them again (at most ``max_backtracks``
    times; after that ``possibly_incomplete`` is set and a warning logged, so a caller can re-run the
    window). ``pages_fetched``, ``total_count`` and ``count_changed`` describe the run so far;
    ``server_time`` is the platform's clock when the first page was answered (its ``Date`` header), so a
    caller can bound a cursor on the platform's clock rather than its own.
    """

    def __init__(
        self,
        fetch: Callable[[dict[str, Any]], tuple[list[Any], Paginator]],
        model: type[M],
        *,
        params: Mapping[str, Any],
        per_page: int,
        identity: str,
        label: str,
        max_backtracks: int = 3,
    ) -> None:
        self._fetch = fetch
        self._model = model
        self._params = dict(params)
        self._per_page = per_page
        self._identity = identity
        self._label = label
        self._max_backtracks = max_backtracks
        self._seen: set[str] = set()
        self._records = self._run()
        self.pages_fetched = 0
        self.total_count: int | None = None
        self.count_changed = False
        self.possibly_incomplete = False
        self.server_time: datetime | None = None

    def __iter__(self) -> PageStream[M]:
        return self

    def __next__(self) -> M:
        return next(self._records)

    def _run(self) -> Iterator[M]:
        page, backtracks = 1, 0
        while True:
            raw_items, paginator = self._fetch({**self._params, "page": page, "itemsPerPage": self._per_page})
            self.pages_fetched += 1
            per_page = paginator.items_per_page or self._per_page
            next_page = page + 1
            previous, self.total_count = self.total_count, paginator.total_count
            if previous is not None and paginator.total_count != previous:
                self.count_changed = True
                drop = previous - paginator.total_count
                if drop > 0 and page > 1:
                    if backtracks < self._max_backtracks:
                        backtracks += 1
                        next_page = max(1, page - math.ceil(drop / per_page))
                        log.info(
                            "%s: totalCount fell from %d to %d while paging; reading again from page %d",
                            self._label, previous, paginator.total_count, next_page,
                        )  # fmt: skip
                    else:
                        self.possibly_incomplete = True
                        log.warning(
                            "%s: totalCount keeps changing (%d -> %d); records may have been missed",
                            self._label, previous, paginator.total_count,
                        )  # fmt: skip
            for raw in raw_items:
                record = validate(self._model, raw, self._identity, self._label)
                key = str(getattr(record, _snake(self._identity)))
                if key in self._seen:
                    continue
                self._seen.add(key)
                yield record
            if next_page > page and (not raw_items or page >= paginator.page_count):
                return
            page = next_page


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def validate(model: type[M], raw: Any, identity: str, label: str, *, code: str | None = None) -> M:
    """``raw`` as ``model``; MalformedResponse naming the record (its ``identity`` field, else ``code``)."""
    if isinstance(raw, dict) and raw.get(identity) is not None:
        code = str(raw[identity])
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        where = f" {identity} {code}" if code else ""
        raise MalformedResponse(
            f"{label}: record{where} does not match the schema: {schema_errors(exc)}", code=code
        ) from exc
