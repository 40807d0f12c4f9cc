"""A read-only static HTTP server for a tlog-tiles directory (``datanet ledger serve``).

Only ``GET`` and ``HEAD`` of ``/checkpoint``, ``/tile/<L>/<N>[.p/<W>]`` and
``/tile/entries/<N>[.p/<W>]`` are answered; every other path is 404 and every
other method 405. Paths are matched against the tlog-tiles grammar before
touching the file system, so no request can name a file outside the
directory. Content types and caching follow c2sp.org/tlog-tiles: the
checkpoint is ``text/plain; charset=utf-8`` and cached for a few seconds at
most, tiles are ``application/octet-stream`` and immutable.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_TILE = re.compile(
    r"\A/tile/(?:[0-9]|[1-5][0-9]|6[0-3]|entries)/(?:x\d{3}/)*\d{3}"
    r"(?:\.p/(?:[1-9]|[1-9]\d|1\d\d|2[0-4]\d|25[0-5]))?\Z"
)
CHECKPOINT_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"


def resolve(root: Path, url_path: str) -> tuple[Path, str, str] | None:
    """resolve maps a request path to (file, content type, cache policy), or None if it is not served.

    Pure: it does not check that the file exists.
    """
    path = url_path.split("?", 1)[0]
    if path == "/checkpoint":
        return root / "checkpoint", CHECKPOINT_TYPE, "no-cache, max-age=5"
    if _TILE.match(path):
        return root / path[1:], TILE_TYPE, "public, max-age=31536000, immutable"
    return None


def _handler(root: Path) -> type[BaseHTTPRequestHandler]:
    class TilesHandler(BaseHTTPRequestHandler):
        server_version = "datanets-tiles/1"

        def _answer(self, with_body: bool) -> None:
            found = resolve(root, self.path)
            try:
                data = found[0].read_bytes() if found else None
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                data = None
            if found is None or data is None:
                self.send_error(404, "not found")
                return
            self.send_response(200)
            self.send_header("Content-Type", found[1])
            self.send_header("Cache-Control", found[2])
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if with_body:
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(True)

        def do_HEAD(self) -> None:
            self._answer(False)

        def _refuse(self) -> None:
            self.send_error(405, "read-only")

        do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

        def log_message(self, format: str, *args: object) -> None:
            pass

    return TilesHandler


def make_server(tiles_dir: Path | str, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """make_server binds (but does not start) a tiles server; port 0 picks a free port."""
    return ThreadingHTTPServer((host, port), _handler(Path(tiles_dir)))


def start(tiles_dir: Path | str, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """start serves ``tiles_dir`` on 127.0.0.1 from a daemon thread; returns the server and its base URL."""
    server = make_server(tiles_dir, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, bound = server.server_address[:2]
    return server, f"http://{host!s}:{bound}"


def serve(tiles_dir: Path | str, port: int = 8080) -> None:
    """serve answers GETs for ``tiles_dir`` on 127.0.0.1:``port`` until interrupted."""
    with make_server(tiles_dir, port) as server:
        server.serve_forever()
