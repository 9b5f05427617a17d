"""What the SMS and API channels share: the keyring for jobs, and finding the inbox of an
unauthenticated channel endpoint (the signature is the authentication).

Jobs only receive a :class:`~relaydesk.kit.db.Database`; the process binds its keyring to it
once (the app's lifespan, the worker at start-up, a test)::

    bind_keyring(db, app.state.keyring)

Unbound, the keyring is made from the settings (the same keys the API process uses).
"""

from __future__ import annotations

from relaydesk.kit.crypto import Keyring
from relaydesk.kit.db import Database

__all__ = ["bind_keyring", "keyring_for"]

_KEY = "channels.keyring"


def bind_keyring(db: Database, keyring: Keyring) -> Keyring:
    db.extensions[_KEY] = keyring
    return keyring


def keyring_for(db: Database) -> Keyring:
    keyring: Keyring | None = db.extensions.get(_KEY)
    if keyring is None:
        from relaydesk.config import get_settings

        keyring = db.extensions[_KEY] = Keyring.from_settings(get_settings())
    return keyring
