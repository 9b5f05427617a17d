"""What the signed inbound callbacks of the channels (SMS gateway, call centre, API channel)
share: the signature check through the integration hub's verifier, with the inbox's own secret.
"""

from __future__ import annotations

from relaydesk.integrations.callbacks import (
    CallbackMisconfigured,
    IncomingCallback,
    Verification,
    Verifier,
)
from relaydesk.integrations.spec_models.auth import SigningParams
from relaydesk.integrations.spec_models.callback import SignatureSpec

__all__ = ["verify_signed"]


def verify_signed(
    incoming: IncomingCallback,
    secret: str | None,
    *,
    missing: str,
    tolerance_seconds: int,
    signing: SigningParams | None = None,
    app_key: str | None = None,
) -> Verification:
    """Check ``incoming``'s signature and timestamp window (401 with the reason).

    ``signing`` given: the Chinese open-platform scheme (appKey + timestamp + nonce + sign);
    otherwise Standard Webhooks. No ``secret`` yet: :class:`CallbackMisconfigured` saying
    ``missing`` (what an administrator has to set).
    """
    if not secret:
        raise CallbackMisconfigured(missing)
    # the spec's secret is a template for connector configs; the verifier gets the real one
    scheme = "app_key_sign" if signing is not None else "standard_webhooks"
    spec = SignatureSpec(scheme=scheme, secret="{{ inbox }}", signing=signing,  # noqa: S106
                         tolerance_seconds=tolerance_seconds)  # fmt: skip
    return Verifier(spec, secret, app_key).verify(incoming)
