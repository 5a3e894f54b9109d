"""The office-server files in deploy/: the nginx site checked by Debian's own
`nginx -t` (installed by scripts/install-nginx.sh, which `make test` runs), and
the systemd unit checked by `systemd-analyze verify` and by unionqa's own CLI."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NGINX = Path("/usr/sbin/nginx")
SITE = ROOT / "deploy" / "nginx.conf"
UNIT = ROOT / "deploy" / "unionqa.service"


def nginx_test(tmp_path: Path, site_text: str) -> subprocess.CompletedProcess:
    """`nginx -t` on the site file inside a minimal main configuration, with a throwaway
    certificate in place of the real one (the test runs as any user, touching nothing in /etc)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=qa.example.org",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
    site = site_text.replace("/etc/ssl/certs/unionqa.pem", str(cert)).replace("/etc/ssl/private/unionqa.key", str(key))
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n    include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    return subprocess.run(
        [str(NGINX), "-t", "-p", str(tmp_path), "-c", str(main), "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True,
    )


@pytest.mark.skipif(not NGINX.exists(), reason="needs Debian's nginx: scripts/install-nginx.sh (apt unavailable)")
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a test certificate")
def test_nginx_site_passes_nginx_t(tmp_path):
    result = nginx_test(tmp_path, SITE.read_text(encoding="utf-8"))
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


@pytest.mark.skipif(not NGINX.exists(), reason="needs Debian's nginx: scripts/install-nginx.sh (apt unavailable)")
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command for a test certificate")
def test_nginx_t_catches_a_broken_site(tmp_path):
    broken = SITE.read_text(encoding="utf-8").replace("proxy_buffering off;", "proxy_buffering sometimes;")
    result = nginx_test(tmp_path, broken)
    assert result.returncode != 0 and "proxy_buffering" in result.stderr


def test_nginx_site_passes_websocket_and_streams_through():
    site = SITE.read_text(encoding="utf-8")
    assert "proxy_pass http://unionqa;" in site and "server 127.0.0.1:7860;" in site
    assert "proxy_set_header Upgrade    $http_upgrade;" in site  # WebSocket
    assert "proxy_buffering off;" in site  # server-sent events arrive as they are sent
    assert "listen 443 ssl" in site and "return 301 https://" in site


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(UNIT, encoding="utf-8")
    return parser


def test_unit_runs_unionqa_serve_with_valid_flags_on_loopback():
    from ui import config as cfg
    from ui.cli import parser

    service = unit()["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/.venv/bin/unionqa") and argv[1] == "serve"
    config = cfg.resolve(parser().parse_args(argv[1:]), environ={})  # the flags are unionqa's own
    assert (config.host, config.port) == ("127.0.0.1", 7860)
    assert config.forwarded_allow_ips == ("127.0.0.1",)  # nginx on this host, and nobody else (issue 22)
    text = UNIT.read_text(encoding="utf-8")  # (repeated Environment= keys: configparser keeps only the last)
    assert "Environment=UNIONQA_HOME=/var/lib/unionqa" in text and service["StateDirectory"] == "unionqa"
    assert service["Restart"] == "on-failure" and service["KillMode"] == "mixed"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_passes_systemd_analyze_verify(tmp_path):
    # the unit names /opt/unionqa; verify checks that ExecStart exists, so point it at this checkout
    text = UNIT.read_text(encoding="utf-8").replace("/opt/unionqa/.venv/bin/unionqa",
                                                     str(Path(sys.executable).with_name("unionqa")))
    copy = tmp_path / "unionqa.service"
    copy.write_text(text, encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "unionqa.service" not in result.stderr, result.stderr  # no warning about the unit itself
