"""``fstore docs serve``: the generated site over HTTP on 127.0.0.1 (the standard library's server).

The site works from ``file://`` as well; serving it is for sharing a link on a machine or through an
SSH tunnel. Only the loopback interface is bound, and only files under ``target/docs`` are served.
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from features.choices import DOCS_PORT as DEFAULT_PORT
from features.errors import ConfigError

HOST = "127.0.0.1"


class _Handler(SimpleHTTPRequestHandler):
    """Static files, no directory listings, one quiet log line per error."""

    def list_directory(self, path: str) -> Any:
        self.send_error(404, "not found")
        return None

    def log_message(self, format: str, *args: Any) -> None:
        if args and str(args[1] if len(args) > 1 else "").startswith(("4", "5")):
            super().log_message(format, *args)


def make_server(site: Path, port: int = DEFAULT_PORT) -> ThreadingHTTPServer:
    """A server for ``site`` bound to 127.0.0.1:``port`` (0 picks a free port); not started yet."""
    if not (site / "index.html").is_file():
        raise ConfigError(f"no generated site in {site}", hint="run `fstore docs generate` first")
    handler = functools.partial(_Handler, directory=str(site))
    try:
        return ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve on {HOST}:{port}: {exc.strerror or exc}", hint="pick another port with --port N"
        ) from None


def serve_site(site: Path, port: int = DEFAULT_PORT) -> None:
    """Serve ``site`` until interrupted."""
    server = make_server(site, port)
    host, bound = server.server_address[:2]
    print(f"serving {site} at http://{host}:{bound}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()


__all__ = ["DEFAULT_PORT", "make_server", "serve_site"]
