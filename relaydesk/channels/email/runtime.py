"""What the e-mail jobs need besides the database: the keyring and the attachment store.

Jobs only receive a :class:`~relaydesk.kit.db.Database`, so the process binds its services to
it once (the app's lifespan, the worker at start-up)::

    bind_email_runtime(db, EmailRuntime(keyring=app.state.keyring,
                                        storage=storage_from_settings(settings)))

Unbound, a runtime is made from the settings (:func:`storage_from_settings`: an S3 bucket when
``settings.storage`` says so, else ``data_dir/files``; the settings' keyring).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from relaydesk.channels.email.storage import BlobStorage, storage_from_settings
from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database

__all__ = ["EmailRuntime", "bind_email_runtime", "email_runtime"]


@dataclass(frozen=True)
class EmailRuntime:
    keyring: Keyring
    storage: BlobStorage
    #: seconds for connecting and for each command
    timeout: float = 30.0


_BOUND: weakref.WeakKeyDictionary[Database, EmailRuntime] = weakref.WeakKeyDictionary()


def bind_email_runtime(db: Database, runtime: EmailRuntime) -> EmailRuntime:
    _BOUND[db] = runtime
    return runtime


def email_runtime(db: Database) -> EmailRuntime:
    runtime = _BOUND.get(db)
    if runtime is None:
        from relaydesk.config import get_settings

        settings = get_settings()
        runtime = _BOUND[db] = EmailRuntime(
            keyring=Keyring.from_settings(settings),
            storage=storage_from_settings(settings),
        )
    return runtime
