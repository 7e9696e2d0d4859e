"""Expected failures of the configuration and the store are one line and exit code 2, never a
traceback, and typos are errors with the closest valid name (issue: hardening, items 6 and 7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from oauthwatch.config import ConfigError, load_settings
from oauthwatch.detect.runner import enabled_detectors

ORG = '[[orgs]]\nname = "prod"\nlogin_url = "https://acme.my.salesforce.com"\nclient_id = "x"\nusername = "u@x"\nprivate_key_file = "k.key"\n'


def _cli(tmp_path: Path, config: Path | str, *verb: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oauthwatch", *(verb or ("status",)), "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'[store]\nurl = "garbage"\n', "store.url is not a database URL"),
        (
            b'[store]\nurl = "mysql://u@db.example/ow"\n',
            "store.url is a mysql URL: oauthwatch stores into SQLite or PostgreSQL only",
        ),
        (b'[store]\nurl = "postgresql+psycopg://postgres@127.0.0.1:1/ow"\n', "cannot open the store at"),
        (b'x = "caf\xe9"\n', "not UTF-8 text"),
        (b'[orgs]\nname = "prod"\n', "[orgs] is written as a table"),
        (b'store = "sqlite:///x.db"\n', "store must be a table"),
    ],
)
def test_store_and_file_problems_are_one_line_exit_2(tmp_path: Path, content: bytes, expected: str) -> None:
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_bytes(content)
    out = _cli(tmp_path, cfg)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert expected in out.stderr


def test_a_directory_as_configuration(tmp_path: Path) -> None:
    out = _cli(tmp_path, tmp_path)
    assert out.returncode == 2
    assert "is a directory" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_server_store_url_never_shows_its_password(tmp_path: Path) -> None:
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text('[store]\nurl = "postgresql+psycopg://ow:Sup3rS3cretPw@127.0.0.1:1/ow"\n')
    out = _cli(tmp_path, cfg)
    assert out.returncode == 2
    assert "Sup3rS3cretPw" not in out.stderr


def _settings(tmp_path: Path, detect: str):
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f"[detect]\n{detect}\n")
    return load_settings(cfg)


@pytest.mark.parametrize(
    ("detect", "expected"),
    [
        (
            "window_minuts = 30",
            "'window_minuts' is not a setting or a detector id; did you mean 'window_minutes'?",
        ),
        ('disabled = ["new_contry"]', "'new_contry' is not a detector id; did you mean 'new_country'?"),
        (
            "[detect.password_spray]\nmin_user = 3",
            "'min_user' is not a known threshold; did you mean 'min_users'?",
        ),
        (
            '[detect.password_spray]\nmin_users = "ten"',
            "[detect.password_spray] min_users must be a int (e.g. min_users = 10)",
        ),
        ("[detect.password_spray]\nmin_users = true", "[detect.password_spray] min_users must be a int"),
        ("[detect.volume]\nper_app = 1", "[detect.volume] per_app must be a bool (e.g. per_app = true)"),
        ("password_spray = 3", "[detect] password_spray must be a table of thresholds"),
        ("[detect.spray]\nmin_users = 3", "[detect] 'spray' is not a setting or a detector id"),
    ],
)
def test_detect_typos_and_wrong_types_are_errors(tmp_path: Path, detect: str, expected: str) -> None:
    settings = _settings(tmp_path, detect)
    with pytest.raises(ConfigError) as info:
        enabled_detectors(settings)
    assert expected in str(info.value)


def test_detect_cli_says_it_in_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n[detect.password_spray]\nmin_users = "ten"\n'
    )
    out = _cli(tmp_path, cfg, "detect")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "min_users must be a int" in out.stderr


def test_good_detect_settings_still_load(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, 'window_minutes = 30\ndisabled = ["new_country"]\n[detect.password_spray]\nmin_users = 3'
    )
    ids = {d.id: t for d, t in enabled_detectors(settings)}
    assert "new_country" not in ids
    assert ids["password_spray"]["min_users"] == 3
