"""审计 — the audit log for administrators: logins and failures, phone reveals, exports,
imports, account changes, register changes (the change log) and ticket moves, with filters;
and the accounts of this store (created and disabled with ``python -m layers users``)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import data as appdata
from dashboard.i18n import t
from dashboard.state import StoreView, download, lang
from layers import clock
from layers.auth.accounts import Accounts
from layers.export import safe_cells
from layers.register import ACTIONS

_COLUMNS = ("at", "user", "action", "target", "detail", "source")


def render() -> None:
    L = lang()
    store = StoreView()
    store.principal.require("audit")
    st.title(t("page_audit", L))
    accts = appdata.accounts(store.key)
    log = _filtered(accts, L)
    st.caption(t("audit_count", L).format(n=len(log)))
    log = log.iloc[::-1]  # newest first: today's logins on top
    shown = log.loc[:, list(_COLUMNS)].assign(
        action=[action_label(a, L) for a in log["action"]],
        source=[_label("audit_src_", s, L) for s in log["source"]],
    ).rename(columns={c: t(f"audit_{c}", L) for c in _COLUMNS})
    st.dataframe(shown, hide_index=True, width="stretch", height=480)
    download(store, t("audit_download", L), write_csv_bytes(shown), "审计日志.csv", "text/csv")
    st.subheader(t("audit_accounts", L))
    users = accts.list()
    if len(users):
        users = users.assign(role=users["role"].map(lambda r: t(f"role_{r}", L)))
    st.dataframe(users.rename(columns={c: t(f"acct_{c}", L) for c in users.columns}),
                 hide_index=True, width="stretch")
    st.caption(t("audit_accounts_help", L))


def _label(prefix: str, code: object, L: str) -> str:
    """A code's label in the catalogue, or the code itself (an action from a newer version)."""
    text = "" if code is None or pd.isna(code) else str(code)
    label = t(prefix + text, L) if text else ""
    return text if label == prefix + text else label


def action_label(action: object, L: str) -> str:
    """What an audit entry's action code means, in the page's language (ticket moves by the
    ticket status they reached, register changes by the register's own labels)."""
    text = "" if action is None or pd.isna(action) else str(action)
    if text.startswith("ticket_"):
        status = text.removeprefix("ticket_")
        label = t(f"status_t_{status}", L)
        return t("audit_act_ticket", L).format(status=status if label == f"status_t_{status}"
                                              else label)
    if text in ACTIONS:
        return _label("reg_action_", text, L)
    return _label("audit_act_", text, L)


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
