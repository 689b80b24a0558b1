"""`fstore docs serve` serves the site on 127.0.0.1 only; the `docs` commands parse and run."""

from __future__ import annotations

import argparse
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from features.cli import build_parser
from features.errors import ConfigError
from features.site import make_server


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "models").mkdir(parents=True)
    (root / "index.html").write_text("<title>home</title>")
    (root / "models" / "a.html").write_text("model a")
    (tmp_path / "secret.txt").write_text("outside the site")
    return root


def test_the_site_is_served_from_loopback_only(site: Path) -> None:
    server = make_server(site, 0)
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert host == "127.0.0.1"
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/") == (200, b"<title>home</title>")
        assert get(f"{base}/models/a.html") == (200, b"model a")
        assert get(f"{base}/models/")[0] == 404  # no directory listings
        assert get(f"{base}/missing.html")[0] == 404
        assert get(f"{base}/../secret.txt")[1] != b"outside the site"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_serving_needs_a_generated_site_and_a_free_port(tmp_path: Path, site: Path) -> None:
    with pytest.raises(ConfigError, match="no generated site") as err:
        make_server(tmp_path / "nothing", 0)
    assert "fstore docs generate" in str(err.value)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(ConfigError, match=r"cannot serve on 127\.0\.0\.1") as err:
            make_server(site, busy.getsockname()[1])
    assert "--port" in str(err.value)


def parser() -> argparse.ArgumentParser:
    """The real ``fstore`` parser (the docs commands are one entry of its COMMANDS table)."""
    return build_parser()


def test_docs_generate_runs_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from _site_kit import default_project

    root = default_project(tmp_path / "proj")
    args = parser().parse_args(["docs", "generate", "--project", str(root)])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert f"to {root / 'target' / 'docs'}" in out and "fstore docs serve" in out
    assert (root / "target" / "docs" / "dag.html").is_file() and (root / "target" / "manifest.json").is_file()
    args = parser().parse_args(["docs", "serve", "--port", "0", "--project", str(root)])
    assert args.port == 0 and args.handler.__name__ == "cmd_serve"
    with pytest.raises(SystemExit):
        parser().parse_args(["docs", "serve", "--port", "x"])


def test_registering_the_docs_commands_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from features.cli import build_parser\n"
        "build_parser().parse_args(['docs', 'serve', '--port', '0'])\n"
        "print(','.join(m for m in ('torch', 'polars', 'sqlglot', 'pyarrow', 'matplotlib', 'numpy', 'duckdb')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
