"""The admin token guard for the key and usage administration (the AuthServiceAuth scheme).

The contract declares ``AuthServiceAuth`` (HTTP bearer) on these operations but documents only 200
and 422. Neither fits a caller without the token: a 200 would hand out data, a 422 would claim the
input is malformed. So both profiles refuse with the status a bearer scheme implies:

401 with ``WWW-Authenticate: Bearer`` (RFC 6750), for a missing and for a wrong token alike. It
is what FastAPI's ``HTTPBearer`` answers since 0.122 and what Schemathesis' ``ignored_auth`` check
expects; a check reports it as undocumented, which is the truth (a known deviation of the
published document). The production profile answers the same: the reference material records
no other answer of the real service, and the profile only departs from the contract where it does.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .service import ServiceState, service_state

__all__ = ["check_admin_token", "require_admin"]

# auto_error=False: the answer depends on the profile, so the guard below decides it.
_bearer = HTTPBearer(auto_error=False, scheme_name="AuthServiceAuth")


def check_admin_token(
    state: ServiceState, credentials: HTTPAuthorizationCredentials | None
) -> None:
    if credentials is None:
        raise HTTPException(
            status_code=401,
            detail="Not authenticated: send Authorization: Bearer <admin token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not secrets.compare_digest(
        credentials.credentials.encode(), state.settings.admin_token.encode()
    ):
        raise HTTPException(
            status_code=401,
            detail="Invalid admin token: use the admin_token from the fake's --state-file",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


def require_admin(
    state: Annotated[ServiceState, Depends(service_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    check_admin_token(state, credentials)
