"""Offline network classification: the shipped table, the downloadable formats, and `intel update`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oauthwatch.intel.feeds import FeedError, read_feed
from oauthwatch.intel.networks import NetworkIndex, RangeRow
from oauthwatch.intel.store import feed_summaries, loaded_ranges, replace_feed


def test_shipped_table_classes_campaign_infrastructure() -> None:
    ix = NetworkIndex()
    assert (ix.classify("208.68.36.90").kind, ix.classify("208.68.36.90").provider) == (
        "hosting",
        "DigitalOcean",
    )
    assert ix.classify("44.215.108.109").provider == "Amazon AWS"
    assert ix.classify("185.220.101.33").kind == "tor"
    assert ix.classify("192.42.116.20").kind == "tor"
    assert ix.classify("10.1.2.3").kind == "other"
    assert ix.classify("192.0.2.99").kind == "other", "documentation ranges are nobody's cloud"
    assert ix.classify("not an ip").kind == "other"
    assert ix.classify(None).label == "other"
    assert ix.classify("208.68.36.90").label == "hosting (DigitalOcean)"


def test_most_specific_wins_and_loaded_ranges_override_the_shipped_ones() -> None:
    ix = NetworkIndex([RangeRow("57.128.0.0/24", "hosting", "Example Cloud"), RangeRow("57.128.0.9/32", "tor", "Tor"),
                       RangeRow("208.68.36.90/32", "vpn", "Some VPN")])  # fmt: skip
    assert ix.classify("57.128.0.8").provider == "Example Cloud"
    assert ix.classify("57.128.0.9").kind == "tor"
    hit = ix.classify("208.68.36.90")
    assert (hit.kind, hit.source) == ("vpn", "loaded")


def _write(tmp_path: Path, name: str, content: object) -> Path:
    p = tmp_path / name
    p.write_text(content if isinstance(content, str) else json.dumps(content))
    return p


def test_provider_formats_are_recognised(tmp_path: Path) -> None:
    aws = read_feed(_write(tmp_path, "ip-ranges.json", {"prefixes": [{"ip_prefix": "3.5.140.0/22", "service": "EC2"}],
                                                         "ipv6_prefixes": [{"ipv6_prefix": "2600:1f14::/35"}]}))  # fmt: skip
    assert (aws.format, aws.provider, [r.cidr for r in aws.rows]) == (
        "aws-ip-ranges",
        "Amazon AWS",
        ["3.5.140.0/22", "2600:1f14::/35"],
    )
    gcp = read_feed(
        _write(
            tmp_path, "cloud.json", {"prefixes": [{"ipv4Prefix": "34.1.208.0/20", "scope": "africa-south1"}]}
        )
    )
    assert gcp.provider == "Google Cloud"
    assert gcp.rows[0].cidr == "34.1.208.0/20"
    az = read_feed(
        _write(
            tmp_path,
            "ServiceTags_Public.json",
            {"values": [{"name": "AzureCloud", "properties": {"addressPrefixes": ["4.144.0.0/17", "bad"]}}]},
        )
    )
    assert az.provider == "Microsoft Azure"
    assert len(az.rows) == 1
    assert az.skipped == ["entry 'bad'"]
    oci = read_feed(
        _write(
            tmp_path,
            "public_ip_ranges.json",
            {"regions": [{"region": "x", "cidrs": [{"cidr": "129.146.0.0/21"}]}]},
        )
    )
    assert oci.provider == "Oracle Cloud"
    tor = read_feed(
        _write(tmp_path, "exit-addresses", "ExitNode ABC\nExitAddress 185.220.101.7 2026-12-01 10:00:00\n")
    )
    assert (tor.kind, tor.name, tor.rows[0].cidr) == ("tor", "tor:Tor", "185.220.101.7/32")


def test_plain_lists_need_kind_and_provider(tmp_path: Path) -> None:
    p = _write(tmp_path, "torbulkexitlist", "185.220.101.7\n185.220.101.8\nhello\n")
    with pytest.raises(FeedError, match="--kind"):
        read_feed(p)
    feed = read_feed(p, kind="tor", provider="Tor")
    assert [r.cidr for r in feed.rows] == ["185.220.101.7/32", "185.220.101.8/32"]
    assert feed.skipped == ["line 3: 'hello'"]
    geo = read_feed(
        _write(tmp_path, "google.csv", "5.101.96.0/21,NL,NL-NH,Amsterdam,\n"),
        kind="hosting",
        provider="DigitalOcean",
    )
    assert geo.format == "geofeed-csv"
    assert geo.rows[0].cidr == "5.101.96.0/21"
    with pytest.raises(FeedError, match="one of"):
        read_feed(p, kind="evil", provider="x")


def test_replacing_a_feed_on_both_stores(store, tmp_path: Path) -> None:
    p = _write(tmp_path, "list.txt", "198.51.100.0/24\n198.51.100.0/24\n203.0.113.1\n")
    assert replace_feed(store, read_feed(p, kind="vpn", provider="ExampleVPN")) == 2
    p.write_text("192.0.2.0/24\n")
    assert replace_feed(store, read_feed(p, kind="vpn", provider="ExampleVPN")) == 1
    assert loaded_ranges(store) == [RangeRow("192.0.2.0/24", "vpn", "ExampleVPN")]
    [s] = feed_summaries(store)
    assert (s.feed, s.ranges) == ("vpn:ExampleVPN", 1)


def test_intel_cli_update_then_lookup(tmp_path: Path) -> None:
    cfg = tmp_path / "oauthwatch.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    tor = _write(tmp_path, "exits.txt", "# today's exits\n8.8.4.4\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "oauthwatch", "intel", *args, "--config", str(cfg)],
                              capture_output=True, text=True)  # fmt: skip

    refused = run("update", str(tor))
    assert refused.returncode == 2
    assert "--kind" in refused.stderr
    ok = run("update", str(tor), "--kind", "tor", "--provider", "Tor")
    assert ok.returncode == 0
    assert "1 range(s) loaded as tor:Tor" in ok.stdout
    out = run("lookup", "8.8.4.4", "208.68.36.90", "--format", "json")
    rows = json.loads(out.stdout)
    assert [(r["kind"], r["source"]) for r in rows] == [("tor", "loaded"), ("hosting", "shipped")]
    info = run("info")
    assert "shipped: 76857 ranges" in info.stdout
    assert "loaded: tor:Tor: 1 ranges" in info.stdout
