"""Redaction: token-shaped values and registered secrets never reach a log line."""

from __future__ import annotations

import logging

from oauthwatch.secrets import MASK, RedactingFilter, fingerprint, redact, register_secret


def test_token_shapes_are_masked():
    text = (
        "POST grant_type=password&client_secret=abc123xyz&password=hunter22 "
        "Authorization: Bearer 00Dxx0000001gPL!AQ4AQFhqRzxyzabcdefghijklmnopq "
        '{"access_token": "00Dxx0000001gPL!AQ4AQabcdefghijklmnopqrstuvwxyz", "refresh_token":"5Aep861abc"}'
    )
    out = redact(text)
    for secret in ("abc123xyz", "hunter22", "AQ4AQ", "5Aep861abc"):
        assert secret not in out
    assert MASK in out


def test_error_codes_are_not_mistaken_for_secrets():
    assert redact('[{"errorCode":"INVALID_SESSION_ID"}]') == '[{"errorCode":"INVALID_SESSION_ID"}]'


def test_registered_secret_masked_anywhere():
    register_secret("very-private-value-42")
    assert "very-private" not in redact("oops very-private-value-42 leaked")


def test_pem_and_jwt_masked():
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEabc\n-----END PRIVATE KEY-----"
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIzTVZHIn0.c2lnbmF0dXJl"
    out = redact(f"key {pem} assertion {jwt}")
    assert "MIIEabc" not in out
    assert "eyJpc3M" not in out


def test_logging_filter_redacts(caplog):
    logger = logging.getLogger("oauthwatch.test")
    handler_filter = RedactingFilter()
    record = logger.makeRecord("x", logging.INFO, __file__, 1, "token=%s", ("s3cretvalue99",), None)
    handler_filter.filter(record)
    assert "s3cretvalue99" not in record.getMessage()


def test_fingerprint_is_stable_and_one_way():
    assert fingerprint("abc") == fingerprint("abc")
    assert "abc" not in fingerprint("abc")
    assert len(fingerprint("abc")) == 64
