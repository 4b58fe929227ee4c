"""Every exception the commerce store raises, in one place.

They derive from :class:`conveyor.ConveyorError`, so the CLI reports them as one line like the engine's errors.

=========================  ==========================================================================
``CredentialsKeyError``    the secret key for shop credentials is missing, malformed or not the one the
                           credentials were encrypted with: set ``CONVEYOR_COMMERCE_SECRET_KEY``
``RecordError``            one record (order, product, customer) is malformed; ``code`` and ``reason``
                           say which and why. Bulk imports collect these and import the rest.
``ShopNotFoundError``      no shop with that id or name (likewise ``ExecutionNotFoundError``,
                           ``SnapshotFileNotFoundError``, ``ParkedRecordNotFoundError``)
``InvalidStateError``      (from ``conveyor``) an execution or snapshot file is not in a state that
                           allows the requested change, e.g. finishing an execution twice
=========================  ==========================================================================
"""

from __future__ import annotations

from conveyor import ConveyorError


class CredentialsKeyError(ConveyorError):
    """Shop credentials cannot be encrypted or decrypted with the configured key."""


class RecordError(ConveyorError):
    """A record from a platform is malformed: ``code`` names it (``None`` when the code itself is missing,
    then ``position`` is its 1-based place in the input), ``reason`` says what is wrong."""

    def __init__(self, code: str | None, reason: str, *, kind: str = "record", position: int | None = None) -> None:
        self.code, self.reason, self.kind, self.position = code, reason, kind, position
        if code is not None:
            who = f"{kind} {code}"
        elif position is not None:
            who = f"{kind} #{position} (no code)"
        else:
            who = f"{kind} (no code)"
        super().__init__(f"{who}: {reason}")

    def at(self, position: int) -> RecordError:
        """The same error, with its place in a bulk input (for records whose code is missing)."""
        return RecordError(self.code, self.reason, kind=self.kind, position=position)


class ShopNotFoundError(ConveyorError):
    """No shop with that id (or name) exists."""

    def __init__(self, shop: int | str) -> None:
        self.shop = shop
        super().__init__(f"shop {shop!r} not found")


class ExecutionNotFoundError(ConveyorError):
    """No pipeline execution with that id exists."""

    def __init__(self, execution_id: int) -> None:
        self.execution_id = execution_id
        super().__init__(f"pipeline execution {execution_id} not found")


class SnapshotFileNotFoundError(ConveyorError):
    """No snapshot file with that id is recorded."""

    def __init__(self, file_id: int) -> None:
        self.file_id = file_id
        super().__init__(f"snapshot file {file_id} not found")


class ParkedRecordNotFoundError(ConveyorError):
    """No parked (or failing, or dismissed) record with that id: it never was, or it imported since."""

    def __init__(self, record_id: int) -> None:
        self.record_id = record_id
        super().__init__(f"parked record {record_id} not found (it may have imported since)")
