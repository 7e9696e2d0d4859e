"""The dashboard's Digest page previews exactly the email `oauthwatch digest` sends (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from oauthwatch.store import open_store
from tests.factories import DIGEST_DAY as DAY
from tests.factories import EVIL_APP as EVIL
from tests.factories import seed_digest_day

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


@pytest.fixture
def configured(tmp_path, monkeypatch):
    db = tmp_path / "store.db"
    engine = open_store(f"sqlite:///{db}")
    seed_digest_day(engine)
    engine.dispose()
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{db}"\n[notify]\nemail_to = ["secops@example.com"]\n'
        '[[orgs]]\nname = "acme"\nlogin_url = "https://acme.example.com"\nflow = "client_credentials"\n'
        'client_id = "x"\nclient_secret_env = "UNUSED"\n'
    )
    monkeypatch.setenv("OAUTHWATCH_CONFIG", str(cfg))
    monkeypatch.delenv("OAUTHWATCH_STORE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield cfg
    st.cache_data.clear()
    st.cache_resource.clear()


def test_digest_page_renders_the_email_for_the_chosen_day(configured) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("views/digest.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.date_input(key="digest_day").set_value(DAY).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Digest"
    subject = " ".join(t.value for t in at.text)
    assert f"oauthwatch · acme · {DAY.isoformat()}: 42 authentications" in subject
    assert "secops@example.com" in at.caption[-1].value
    frames = [el for el in at.main if el.type == "iframe"]
    assert len(frames) == 1
    html = frames[0].proto.srcdoc
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert EVIL not in html
    assert html.count("data:image/png;base64,") == 2, "charts embedded, nothing fetched"
    assert "42 authentications" in subject
    code = [c.value for c in at.code]
    assert any("events:       42" in c for c in code)


def test_digest_page_without_configured_orgs_explains(tmp_path, monkeypatch) -> None:
    db = tmp_path / "store.db"
    open_store(f"sqlite:///{db}").dispose()
    monkeypatch.delenv("OAUTHWATCH_CONFIG", raising=False)
    monkeypatch.setenv("OAUTHWATCH_STORE_URL", f"sqlite:///{db}")
    monkeypatch.chdir(tmp_path)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("views/digest.py")
    at.run()
    assert not at.exception
    assert "--config" in at.info[0].value
    st.cache_resource.clear()
