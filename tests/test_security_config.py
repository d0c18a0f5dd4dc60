"""The shipped server configuration keeps the security basics (issue 14): local bind, no error
details for visitors, XSRF on with a same-site-only cookie, bounded uploads."""

from __future__ import annotations

import tomllib
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml"


def test_server_config_keeps_the_security_basics():
    cfg = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    server, client = cfg["server"], cfg["client"]
    assert server["address"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True
    assert server["xsrfCookieSameSite"] == "strict"
    assert 0 < server["maxUploadSize"] <= 50
    assert client["showErrorDetails"] == "none"
    assert cfg["browser"]["gatherUsageStats"] is False


def test_streamlit_reads_the_same_site_setting(monkeypatch):
    """Streamlit itself reads the option from the project's config (a misspelt key would be
    silently ignored and leave its default, Lax)."""
    from streamlit import config

    monkeypatch.chdir(CONFIG.parent.parent)
    config.get_config_options(force_reparse=True, options_from_flags={})
    try:
        assert config.get_option("server.xsrfCookieSameSite") == "strict"
    finally:
        config.get_config_options(force_reparse=True, options_from_flags={})
