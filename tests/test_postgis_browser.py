"""The core workflows in a real browser on the PostGIS backend (issue 23): the very tests the
GeoPackage runs (imported from their modules, called with a server on a PostGIS copy of the
demo): a map click opens its detail, a ticket is filed, moved and closed, a sentinel is
assigned from the detail panel, logins (a shared link, a wrong password and the lock-out).

Two servers: one on an open store (no accounts: the fictional demo is open), one on a store
with the accounts of ``test_auth_browser`` and the operator of ``test_people_browser``."""

from __future__ import annotations

import os

import pytest
import test_auth_browser as auth
import test_browser as maps
import test_people_browser as people
import test_tickets_browser as tickets
from browserkit import ARTIFACTS, add_account, streamlit_server
from conftest import pg_copy, pg_drop
from test_auth_browser import accounts, picks  # noqa: F401 - fixtures, on this module's town

pytestmark = pytest.mark.skipif(
    os.environ.get("WANGGE_SKIP_BROWSER") == "1", reason="browser tests switched off")


@pytest.fixture(scope="module")
def open_town(pg_cluster, pg_template):
    """A PostGIS copy of the demo without accounts."""
    url = pg_copy(pg_cluster, pg_template)
    yield url
    pg_drop(pg_cluster, url)


@pytest.fixture(scope="module")
def open_server(open_town):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(open_town) as url:
        yield url


@pytest.fixture(scope="module")
def town(pg_cluster, pg_template):
    """A PostGIS copy of the demo with the operator's account (the auth module's accounts
    are added by its ``accounts`` fixture)."""
    url = pg_copy(pg_cluster, pg_template)
    add_account(url, people.OPERATOR, "admin")
    yield url
    pg_drop(pg_cluster, url)


@pytest.fixture(scope="module")
def server(town, accounts):  # noqa: F811 - the imported fixture, on this town
    del accounts
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(town) as url:
        yield url


def test_a_map_click_opens_the_detail(open_server, browser, demo):
    maps.test_clicking_a_grid_opens_its_details(open_server, browser, demo)


def test_a_ticket_is_closed_and_stays_selected(open_server, open_town, demo, browser):
    tickets.test_closing_a_ticket_keeps_it_selected(open_server, open_town, demo, browser)


def test_a_shared_link_lands_after_login(browser, server):
    auth.test_login_lands_on_the_page_asked_for(browser, server)


def test_a_wrong_password_then_lock_out(browser, server, town):
    auth.test_wrong_password_then_lock_out(browser, server, town)


def test_a_community_worker_files_and_moves_a_ticket(browser, server, town, demo):
    auth.test_community_files_and_moves_a_ticket_and_reveals_a_phone(browser, server, town,
                                                                     demo)


def test_a_sentinel_is_assigned_from_the_detail_panel(browser, server, town):
    people.test_assign_a_sentinel_from_the_detail_panel(browser, server, town)
