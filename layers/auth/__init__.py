"""Accounts, roles, scope and the audit log.

:mod:`.principal` says who asks and what each role may do (roles as data); :mod:`.scope`
cuts layers and tickets to a principal's communities or grids and masks personal data;
:mod:`.accounts` keeps accounts (argon2id hashes, lock-out, kiosk tokens), server-side sessions
and the append-only audit log in the store's service tables (any backend).
"""

from __future__ import annotations

from .accounts import AccountError, Accounts, LockedOut, LoginFailed
from .principal import (
    ACCOUNT_ROLES,
    CAPABILITIES,
    HANDLER_MOVES,
    PERSONAL,
    PermissionDenied,
    Principal,
)

__all__ = ["ACCOUNT_ROLES", "CAPABILITIES", "HANDLER_MOVES", "PERSONAL", "AccountError",
           "Accounts", "LockedOut", "LoginFailed", "PermissionDenied", "Principal"]
