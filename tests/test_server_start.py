"""How the server starts: lazily, on stdio or TCP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

from support.ports import free_port


def test_building_the_server_does_not_load_the_http_stack() -> None:
    code = "import sys; from llamafile_ls.server import build_server; build_server(); print(sorted(m for m in ('httpx', 'httpcore', 'llamafile_ls.providers.http') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def frame(message: dict[str, object]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def test_tcp_serves_lsp_on_loopback() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llamafile_ls", "--tcp", "--port", str(port)], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                assert time.monotonic() < deadline, "the TCP server did not start"
                time.sleep(0.05)
        with connection:
            connection.sendall(
                frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
            )
            data = b""
            while b"serverInfo" not in data or not data.rstrip().endswith(b"}"):
                piece = connection.recv(65536)
                assert piece, "connection closed before the initialize answer"
                data += piece
            body = json.loads(data.split(b"\r\n\r\n", 1)[1])
            assert body["id"] == 1
            assert body["result"]["serverInfo"]["name"] == "llamafile-ls"
            assert "llamafile.edit" in body["result"]["capabilities"]["executeCommandProvider"]["commands"]
    finally:
        server.terminate()
        server.wait(10)
