"""The supplier-feeds pack installed on one application: its settings and tasks.

:func:`~conveyor.commerce.feeds.tasks.install` creates it; :func:`pack_of` finds it again from the app. The
run pipeline (:mod:`.runs`), linking (:mod:`.linking`) and the actions (:mod:`.actions`) receive or look it up.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conveyor import ConfigurationError, Conveyor, Task
from conveyor.commerce.store import CredentialCipher

#: Where downloads and the rows waiting for chunk jobs live by default (as for the Shoptet pack).
DATA_DIR_ENV = "CONVEYOR_COMMERCE_DATA_DIR"
DEFAULT_DATA_DIR = "conveyor-data"
#: Directories local-path feed sources may lie in, separated like PATH (default: ``{data_dir}/incoming``).
LOCAL_ROOTS_ENV = "CONVEYOR_FEEDS_LOCAL_ROOTS"

#: Queue of the import runs and their chunk jobs (as the Laravel jobs users run today), and of linking.
IMPORT_QUEUE = "import"
LINK_QUEUE = "integrations"

_PACKS: weakref.WeakKeyDictionary[Conveyor, FeedsPack] = weakref.WeakKeyDictionary()


class FeedsPack:
    """The feed pipelines installed on one application (settings and tasks)."""

    def __init__(
        self,
        app: Conveyor,
        *,
        data_dir: Path,
        chunk_size: int,
        secret_key: str | None,
        import_queue: str = IMPORT_QUEUE,
        link_queue: str = LINK_QUEUE,
        download_timeout: float = 60.0,
        max_bytes: int | None = None,
        local_roots: Sequence[Path | str] | None = None,
    ) -> None:
        if not 1 <= chunk_size <= 10_000:
            raise ConfigurationError(f"chunk_size must be 1–10,000 rows, got {chunk_size}")
        self.app = app
        self.data_dir = data_dir
        self.chunk_size = chunk_size
        self.import_queue = import_queue
        self.link_queue = link_queue
        self.download_timeout = download_timeout
        self.max_bytes = max_bytes
        if local_roots is None:
            configured = os.environ.get(LOCAL_ROOTS_ENV, "")
            local_roots = [r for r in configured.split(os.pathsep) if r] or [data_dir / "incoming"]
        #: Directories a task's local-path source may lie in (resolved, symlinks followed).
        self.local_roots = tuple(Path(r).expanduser().resolve() for r in local_roots)
        self._secret_key = secret_key
        self._cipher: CredentialCipher | None = None
        self.tasks: dict[str, Task[Any, Any]] = {}

    def __repr__(self) -> str:
        return f"<FeedsPack data_dir={str(self.data_dir)!r} chunk_size={self.chunk_size}>"

    def check_source(self, source: str) -> str:
        """``source`` if it is an http(s) URL or a local file inside :attr:`local_roots`; else
        :class:`~conveyor.ConfigurationError` saying why. Whoever may add a feed (the API, the dashboard) must not
        be able to make the server read and show any file it can read (``/etc/passwd``, the credentials key)."""
        text = source.strip()
        if text.lower().startswith(("http://", "https://")):
            return text
        if "://" in text and not text.lower().startswith("file://"):
            raise ConfigurationError(f"unsupported feed source {text!r}: use an http(s) URL or a local path")
        path = Path(text[len("file://") :] if text.lower().startswith("file://") else text).expanduser().resolve()
        if not any(path == root or root in path.parents for root in self.local_roots):
            roots = ", ".join(str(r) for r in self.local_roots)
            raise ConfigurationError(
                f"local feed files must lie in {roots} (set {LOCAL_ROOTS_ENV} or install(local_roots=...) to "
                f"allow another directory); {str(path)!r} does not"
            )
        return text

    @property
    def cipher(self) -> CredentialCipher:
        """The credentials cipher, created on first use (a feed without credentials never needs the key)."""
        if self._cipher is None:
            self._cipher = CredentialCipher(self._secret_key)
        return self._cipher

    def downloads_dir(self, task_id: int) -> Path:
        """Where a task's downloaded files go: ``{data_dir}/feeds/{task_id}``."""
        return self.data_dir / "feeds" / str(task_id)

    def spool_dir(self, execution_id: int) -> Path:
        """Where a run keeps its mapped rows for the chunk jobs: ``{data_dir}/feeds/runs/{execution_id}``."""
        return self.data_dir / "feeds" / "runs" / str(execution_id)


def pack_of(app: Conveyor) -> FeedsPack:
    """The pack :func:`install` put on ``app``; :class:`~conveyor.ConfigurationError` if there is none."""
    pack = _PACKS.get(app)
    if pack is None:
        raise ConfigurationError(
            "the supplier feeds are not installed on this application: call "
            "conveyor.commerce.feeds.pipelines.install(app) where the app is defined"
        )
    return pack
