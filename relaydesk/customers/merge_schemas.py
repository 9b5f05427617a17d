"""Bodies of merge, split and merge suggestions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import Field

from relaydesk.customers.identities import IdentityKind
from relaydesk.customers.schemas import CustomerOut
from relaydesk.kit.schemas import RequestModel, ResponseModel


class MergeIn(RequestModel):
    merge_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=20,
        description="Customers merged into the one in the path (which survives)",
    )


class SplitIn(RequestModel):
    identity_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=50,
        description="Identities of this customer that move to the new customer",
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The new customer's name (default: this customer's)",
    )


SuggestionStatus = Literal["open", "dismissed", "merged"]


class SuggestionReason(ResponseModel):
    why: Literal["unverified_match", "verified_match", "identity_taken_over",
                 "profile_duplicate"]  # fmt: skip
    kind: IdentityKind
    #: the identity that matched (masked by role); null when it was removed since
    identity_id: uuid.UUID | None = None
    value: str | None = None


class SuggestionOut(ResponseModel):
    id: uuid.UUID
    status: SuggestionStatus
    customer: CustomerOut = Field(description="The newer profile")
    candidate: CustomerOut = Field(description="The existing profile it resembles")
    reasons: list[SuggestionReason]
    created_at: dt.datetime
    updated_at: dt.datetime
