"""myapp: a tiny web application for the example server.

It answers HTTP on localhost:3000 and counts the page views in PostgreSQL.
It uses only Python's standard library: PostgreSQL is spoken to over its Unix
socket with the frontend/backend protocol (version 3), authenticated by the
server's `peer` method as the operating-system user the service runs as.
"""

from __future__ import annotations

import os
import socket
import struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTEN = ("127.0.0.1", int(os.environ.get("MYAPP_PORT", "3000")))
GREETING = os.environ.get("MYAPP_GREETING", "Hello from myapp")
PG_SOCKET_DIR = os.environ.get("PGHOST", "/run/postgresql")
PG_PORT = int(os.environ.get("PGPORT", "5432"))


class PostgresError(Exception):
    pass


class Postgres:
    """A minimal client: connect, run simple queries, read text results."""

    def __init__(self, user: str, database: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(f"{PG_SOCKET_DIR}/.s.PGSQL.{PG_PORT}")
        params = f"user\0{user}\0database\0{database}\0\0".encode()
        self.sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        self._until_ready()

    def _read_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise PostgresError("the server closed the connection")
            data += chunk
        return data

    def _message(self) -> tuple[bytes, bytes]:
        kind, length = struct.unpack("!ci", self._read_exact(5))
        return kind, self._read_exact(length - 4)

    def _until_ready(self) -> list[list[str | None]]:
        rows: list[list[str | None]] = []
        error: str | None = None
        while True:
            kind, body = self._message()
            if kind == b"R" and struct.unpack("!i", body[:4])[0] != 0:
                raise PostgresError("the server asked for a password; peer authentication expected")
            if kind == b"E":
                fields = dict((f[:1], f[1:].decode()) for f in body.split(b"\0") if f)
                error = fields.get(b"M", "unknown error")
            elif kind == b"D":
                (count,), pos, row = struct.unpack("!h", body[:2]), 2, []
                for _ in range(count):
                    (size,) = struct.unpack("!i", body[pos:pos + 4])
                    pos += 4
                    row.append(None if size < 0 else body[pos:pos + size].decode())
                    pos += max(size, 0)
                rows.append(row)
            elif kind == b"Z":
                if error is not None:
                    raise PostgresError(error)
                return rows

    def query(self, sql: str) -> list[list[str | None]]:
        payload = sql.encode() + b"\0"
        self.sock.sendall(b"Q" + struct.pack("!i", 4 + len(payload)) + payload)
        return self._until_ready()

    def close(self) -> None:
        try:
            self.sock.sendall(b"X\0\0\0\4")
        finally:
            self.sock.close()


def count_visit() -> int:
    db = Postgres(user=os.environ.get("MYAPP_DB_USER", "myapp"),
                  database=os.environ.get("MYAPP_DB", "myapp"))
    try:
        db.query("CREATE TABLE IF NOT EXISTS visits (page text PRIMARY KEY, count bigint NOT NULL)")
        rows = db.query(
            "INSERT INTO visits VALUES ('/', 1) ON CONFLICT (page) "
            "DO UPDATE SET count = visits.count + 1 RETURNING count"
        )
        return int(rows[0][0] or 0)
    finally:
        db.close()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        try:
            body, status = f"{GREETING}! This page has been viewed {count_visit()} times.\n", 200
        except (OSError, PostgresError) as exc:
            body, status = f"myapp: the database is not available: {exc}\n", 503
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    server = ThreadingHTTPServer(LISTEN, Handler)
    print(f"myapp listening on http://{LISTEN[0]}:{LISTEN[1]}/", flush=True)
    server.serve_forever()
