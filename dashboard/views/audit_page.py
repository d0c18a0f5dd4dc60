"""审计 — the audit log for administrators: logins and failures, phone reveals, exports,
imports, account changes, register changes (the change log) and ticket moves, with filters;
and the accounts of this store (created and disabled with ``python -m layers users``)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard.i18n import t
from dashboard.state import Store, download, lang
from layers import clock
from layers.auth.accounts import Accounts
from layers.export import safe_cells

_COLUMNS = ("at", "user", "action", "target", "detail", "source")


def render() -> None:
    L = lang()
    store = Store()
    store.principal.require("audit")
    st.title(t("page_audit", L))
    accts = Accounts(store.path)
    log = _filtered(accts, L)
    st.caption(t("audit_count", L).format(n=len(log)))
    log = log.iloc[::-1]  # newest first: today's logins on top
    shown = log.loc[:, list(_COLUMNS)].rename(columns={c: t(f"audit_{c}", L) for c in _COLUMNS})
    st.dataframe(shown, hide_index=True, width="stretch", height=480)
    download(store, t("audit_download", L), write_csv_bytes(shown), "审计日志.csv", "text/csv")
    st.subheader(t("audit_accounts", L))
    users = accts.list()
    if len(users):
        users = users.assign(role=users["role"].map(lambda r: t(f"role_{r}", L)))
    st.dataframe(users, hide_index=True, width="stretch")
    st.caption(t("audit_accounts_help", L))


def write_csv_bytes(df) -> bytes:
    """The audit log as CSV, every text cell written as text (a user name or a ticket note
    cannot become a spreadsheet formula)."""
    return safe_cells(df).to_csv(index=False).encode("utf-8-sig")


def _filtered(accts: Accounts, L: str) -> pd.DataFrame:
    c1, c2, c3 = st.columns(3)
    since = c1.date_input(t("audit_since", L), value=clock.today() - dt.timedelta(days=30),
                          max_value=clock.today(), key="audit_since")
    user = c2.text_input(t("audit_user", L), max_chars=64, key="audit_user").strip() or None
    action = c3.text_input(t("audit_action", L), max_chars=40,
                           key="audit_action").strip() or None
    return accts.audit_log(since=since if isinstance(since, dt.date) else None, user=user,
                           action=action)
