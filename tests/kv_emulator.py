"""A small Azure Key Vault (keys and secrets) emulator for tests: HTTPS on 127.0.0.1, real RSA keys in memory.

It speaks the part of the Key Vault keys REST API that ``azure-keyvault-keys`` uses for our KMS: create, get,
update (enable/disable, release policy), delete, wrapkey/unwrapkey and encrypt/decrypt with RSA-OAEP and
RSA-OAEP-256, Secure Key Release (exportable keys with a release policy, ``release``: see :mod:`kv_release`), plus
the bearer-challenge handshake (an unauthenticated request is answered 401 with a ``WWW-Authenticate``
challenge; the client then retries with a token). Errors use Key Vault's JSON body and codes (403 Forbidden
with inner code KeyDisabled for a disabled key, 404 KeyNotFound, 403 ForbiddenByPolicy for a denied operation).

Secrets (what ``azure-keyvault-secrets``' SecretClient needs; Key Vault REST API 7.x, ``secrets.json``): set
(``PUT /secrets/{name}``, a new version each time), get latest or a given version, list (paged by
``maxresults``, ``nextLink``), delete (soft: ``/deletedsecrets/{name}`` then answers, so ``begin_delete_secret``
polls to completion). Bodies are SecretBundle / SecretItem / DeletedSecretBundle; a missing secret is 404
SecretNotFound. Operation names for counts and faults: setSecret, getSecret, listSecrets, deleteSecret,
getDeletedSecret.

Fault injection for reliability tests: a share of requests answered 429 (with Retry-After) or 5xx, a script
of forced statuses, a fixed delay. ``calls`` counts every authenticated request by operation, across all the
processes (Spark executors) that talk to it.

The TLS certificate (a throwaway CA and a leaf for 127.0.0.1/localhost) is generated at start; clients pass
``connection_verify=emulator.ca_path``.
"""

from __future__ import annotations

import base64
import collections
import datetime
import ipaddress
import json
import random
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from kv_release import KeyRelease

EMULATOR_TOKEN = "ppml-az-kv-emulator-token"  # must match bigdl_ppml_az.kms.azure.EMULATOR_TOKEN
TENANT = "00000000-0000-0000-0000-00000000e1a0"
_ALGORITHMS = {
    "RSA-OAEP": hashes.SHA1,
    "RSA-OAEP-256": hashes.SHA256,
}


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key) for 127.0.0.1 and localhost, valid for one day."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ppml-az test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
_SECRET_PERMISSIONS = {"setSecret": "set", "getSecret": "get", "listSecrets": "list", "deleteSecret": "delete",
                       "getDeletedSecret": "get"}  # fmt: skip


class _SecretVersion:
    def __init__(self, name: str, value: str, content_type: str | None, tags: dict[str, str] | None) -> None:
        self.name, self.version, self.value = name, secrets.token_hex(16), value
        self.content_type, self.tags = content_type, tags
        self.enabled = True
        self.created = self.updated = int(time.time())

    def item(self, base_url: str, versioned: bool = True) -> dict[str, Any]:
        """SecretItem: id (versioned, except in the vault listing), attributes, contentType and tags when set."""
        item: dict[str, Any] = {
            "id": f"{base_url}/secrets/{self.name}" + (f"/{self.version}" if versioned else ""),
            "attributes": {
                "enabled": self.enabled,
                "created": self.created,
                "updated": self.updated,
                "recoveryLevel": "Recoverable+Purgeable",
            },
        }
        if self.content_type is not None:
            item["contentType"] = self.content_type
        if self.tags:
            item["tags"] = dict(self.tags)
        return item

    def bundle(self, base_url: str) -> dict[str, Any]:
        """SecretBundle: the value plus the versioned item."""
        return {"value": self.value, **self.item(base_url)}


class _KeyVersion:
    def __init__(self, name: str, version: str, size: int, ops: list[str]) -> None:
        self.name, self.version, self.ops = name, version, ops
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=size)
        self.enabled = True
        self.kty = "RSA"
        self.exportable = False
        self.release_policy: dict[str, Any] | None = None  # {"contentType", "data" (base64url), "immutable"}
        self.created = self.updated = int(time.time())

    def bundle(self, base_url: str) -> dict[str, Any]:
        numbers = self.private.public_key().public_numbers()
        return {
            "key": {
                "kid": f"{base_url}/keys/{self.name}/{self.version}",
                "kty": self.kty,
                "key_ops": self.ops,
                "n": _b64url(_int_bytes(numbers.n)),
                "e": _b64url(_int_bytes(numbers.e)),
            },
            "attributes": {
                "enabled": self.enabled,
                "created": self.created,
                "updated": self.updated,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
                **({"exportable": True} if self.exportable else {}),
            },
            **({"release_policy": dict(self.release_policy)} if self.release_policy else {}),
        }


class KvError(Exception):
    def __init__(self, status: int, code: str, message: str, inner: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner


class KeyVaultEmulator:
    """Start with :meth:`start`, stop with :meth:`stop`; ``url`` is the vault URL, ``ca_path`` its CA bundle."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ca_path, self._cert, self._key = make_tls_files(workdir / "kv-tls")
        self._lock = threading.Lock()
        self.keys: dict[str, list[_KeyVersion]] = {}
        self.deleted: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, list[_SecretVersion]] = {}
        self.deleted_secrets: dict[str, dict[str, Any]] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.faults: collections.Counter[int] = collections.Counter()
        self.challenges = 0
        self.release = KeyRelease(self, workdir)  # Secure Key Release: signing chain, trusted MAA CAs, counts
        self.reset_faults()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ---- fault injection --------------------------------------------------------------------------------
    def reset_faults(self) -> None:
        with self._lock:
            self.fail_rate = 0.0
            self.fail_statuses: tuple[int, ...] = (429, 503)
            self.fault_ops: set[str] | None = None  # None: every operation
            self.retry_after = "1"
            self.delay = 0.0
            self.script: collections.deque[int] = collections.deque()
            self.denied_ops: set[str] = set()
            self._random = random.Random(1234)

    def inject(
        self,
        rate: float = 0.0,
        statuses: tuple[int, ...] = (429, 503),
        ops: set[str] | None = None,
        retry_after: str = "1",
        delay: float = 0.0,
        seed: int = 1234,
    ) -> None:
        """Answer a share ``rate`` of (matching) requests with one of ``statuses``; 429 carries Retry-After."""
        with self._lock:
            self.fail_rate, self.fail_statuses, self.fault_ops = rate, statuses, ops
            self.retry_after, self.delay = retry_after, delay
            self._random = random.Random(seed)

    def fail_next(self, *statuses: int) -> None:
        """Answer the next authenticated requests with these statuses, in order."""
        with self._lock:
            self.script.extend(statuses)

    def deny(self, *ops: str) -> None:
        """Answer these operations 403 as if the identity lacked the permission."""
        with self._lock:
            self.denied_ops.update(ops)

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()
            self.faults.clear()

    # ---- direct state access for tests --------------------------------------------------------------------
    def set_enabled(self, name: str, enabled: bool) -> None:
        with self._lock:
            for version in self.keys[name]:
                version.enabled = enabled

    def private_key(self, key_id: str) -> rsa.RSAPrivateKey:
        """The private key behind a key id: tests use it to check wraps independently of Key Vault."""
        name, version = key_id.rstrip("/").split("/keys/", 1)[1].split("/")[:2]
        return self._find(name, version).private

    def _find(self, name: str, version: str | None) -> _KeyVersion:
        versions = self.keys.get(name)
        if not versions:
            raise KvError(404, "KeyNotFound", f"A key with (name/id) {name} was not found in this key vault.")
        if not version:
            return versions[-1]
        for candidate in versions:
            if candidate.version == version:
                return candidate
        raise KvError(404, "KeyNotFound", f"A key with (name/id) {name}/{version} was not found in this key vault.")

    # ---- server ----------------------------------------------------------------------------------------------
    def start(self) -> KeyVaultEmulator:
        emulator = self

        class Handler(_Handler):
            owner = emulator

        self._server, self.url, self._thread = serve_https(Handler, self._cert, self._key, "kv-emulator")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def options(self, **extra: str) -> dict[str, str]:
        """ppml-enc / KmsSettings options that point our Azure KMS at this emulator."""
        base = {
            "kms": "azure",
            "vault": self.url,
            "credential": "emulator",
            "connectionVerify": str(self.ca_path),
            "verifyChallengeResource": "false",
            "kmsRetryBackoff": "0.05",
        }
        base.update(extra)
        return base

    # ---- request handling (called from handler threads) ----------------------------------------------------
    def _fault(self, op: str) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            status: int | None = None
            if self.script:
                status = self.script.popleft()
            elif (
                self.fail_rate
                and (self.fault_ops is None or op in self.fault_ops)
                and self._random.random() < self.fail_rate
            ):
                status = self._random.choice(self.fail_statuses)
            if status is None:
                return None
            self.faults[status] += 1
            headers = {"Retry-After": self.retry_after} if status == 429 else {}
            return status, headers

    def handle(self, method: str, path: str, body: dict[str, Any], query: str = "") -> tuple[int, dict[str, Any]]:
        parts = [p for p in path.split("/") if p]
        if parts[:1] in (["secrets"], ["deletedsecrets"]):
            with self._lock:
                return self._secret_request(method, path, parts, body, query)
        if len(parts) == 2 and parts[0] == "deletedkeys" and method == "GET":
            with self._lock:
                if parts[1] not in self.deleted:
                    raise KvError(404, "KeyNotFound", f"Deleted Key not found: {parts[1]}")
                return 200, self.deleted[parts[1]]
        if len(parts) < 2 or parts[0] != "keys":
            raise KvError(400, "BadParameter", f"unsupported path {path}")
        name = parts[1]
        if not _NAME.fullmatch(name):
            raise KvError(400, "BadParameter", "The request URI contains an invalid name")
        rest = parts[2:]
        if method == "POST" and rest and rest[-1].lower() == "release" and len(rest) in (1, 2):
            with self._lock:
                key = self._find(name, rest[0] if len(rest) == 2 else None)
            return 200, self.release.release(key, body)  # outside the lock: it fetches the authority's keys
        with self._lock:
            if method == "POST" and rest == ["create"]:
                return 200, self._create(name, body)
            if method == "GET" and len(rest) <= 1:
                return 200, self._find(name, rest[0] if rest else None).bundle(self.url)
            if method == "PATCH" and len(rest) <= 1:
                return 200, self._update(name, rest[0] if rest else None, body)
            if method == "DELETE" and not rest:
                return 200, self._delete(name)
            if method == "POST" and len(rest) in (1, 2):
                op_name = rest[-1].lower()
                version = rest[0] if len(rest) == 2 else None
                key = self._find(name, version)
                return 200, self._crypto(key, op_name, body)
        raise KvError(405, "BadParameter", f"{method} {path} is not supported by the emulator")

    # ---- secrets ---------------------------------------------------------------------------------------------
    def _secret_request(
        self, method: str, path: str, parts: list[str], body: dict[str, Any], query: str
    ) -> tuple[int, dict[str, Any]]:
        kind, rest = parts[0], parts[1:]
        if kind == "secrets" and not rest and method == "GET":
            return 200, self._list_secrets(query)
        if not 1 <= len(rest) <= 2 or not _NAME.fullmatch(rest[0]):
            raise KvError(400, "BadParameter", "The request URI contains an invalid name")
        name, version = rest[0], (rest[1] if len(rest) == 2 else None)
        if kind == "deletedsecrets" and method == "GET" and version is None:
            if name not in self.deleted_secrets:
                raise KvError(404, "SecretNotFound", f"Deleted Secret not found: {name}")
            return 200, self.deleted_secrets[name]
        if kind == "secrets" and method == "PUT" and version is None:
            return 200, self._set_secret(name, body)
        if kind == "secrets" and method == "GET":
            return 200, self._find_secret(name, version).bundle(self.url)
        if kind == "secrets" and method == "DELETE" and version is None:
            return 200, self._delete_secret(name)
        raise KvError(405, "BadParameter", f"{method} {path} is not supported by the emulator")

    def _set_secret(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        value, content_type, tags = body.get("value"), body.get("contentType"), body.get("tags")
        if not isinstance(value, str):
            raise KvError(400, "BadParameter", "The request body must contain a string 'value'.")
        if content_type is not None and not isinstance(content_type, str):
            raise KvError(400, "BadParameter", "contentType must be a string.")
        if tags is not None and not (isinstance(tags, dict) and all(isinstance(v, str) for v in tags.values())):
            raise KvError(400, "BadParameter", "tags must map names to strings.")
        if name in self.deleted_secrets:
            raise KvError(409, "Conflict", f"Secret {name} is currently in a deleted but recoverable state.")
        version = _SecretVersion(name, value, content_type, tags)
        if (body.get("attributes") or {}).get("enabled") is False:
            version.enabled = False
        self.secrets.setdefault(name, []).append(version)
        return version.bundle(self.url)

    def _find_secret(self, name: str, version: str | None) -> _SecretVersion:
        versions = self.secrets.get(name) or []
        found = versions[-1] if versions and not version else next((v for v in versions if v.version == version), None)
        if found is None:
            label = f"{name}/{version}" if version else name
            raise KvError(404, "SecretNotFound", f"A secret with (name/id) {label} was not found in this key vault.")
        if not found.enabled:
            raise KvError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
        return found

    def _list_secrets(self, query: str) -> dict[str, Any]:
        """SecretListResult: latest version of each secret, unversioned ids, no values; ``$skiptoken`` pages."""
        params = urllib.parse.parse_qs(query)
        try:
            size = min(25, max(1, int(params.get("maxresults", ["25"])[0])))
            start = int(params.get("$skiptoken", ["0"])[0])
        except ValueError:
            raise KvError(400, "BadParameter", "maxresults and $skiptoken must be integers") from None
        names = sorted(self.secrets)
        page = [self.secrets[name][-1].item(self.url, versioned=False) for name in names[start : start + size]]
        more = start + size < len(names)
        next_link = f"{self.url}/secrets?api-version=7.4&$skiptoken={start + size}&maxresults={size}" if more else None
        return {"value": page, "nextLink": next_link}

    def _delete_secret(self, name: str) -> dict[str, Any]:
        """DeletedSecretBundle (no value); the secret moves to /deletedsecrets until purged (never, here)."""
        bundle = self._find_secret(name, None).item(self.url)
        del self.secrets[name]
        now = int(time.time())
        bundle.update(
            {
                "recoveryId": f"{self.url}/deletedsecrets/{name}",
                "deletedDate": now,
                "scheduledPurgeDate": now + 90 * 86400,
            }
        )
        self.deleted_secrets[name] = bundle
        return bundle

    def _create(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("kty", "RSA") not in ("RSA", "RSA-HSM"):
            raise KvError(400, "BadParameter", "the emulator only creates RSA keys")
        size = int(body.get("key_size") or 2048)
        if size not in (2048, 3072, 4096):
            raise KvError(400, "BadParameter", f"Invalid key size {size}")
        ops = list(body.get("key_ops") or ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"])
        version = _KeyVersion(name, secrets.token_hex(16), size, ops)
        if body.get("attributes", {}).get("enabled") is False:
            version.enabled = False
        version.kty = "RSA-HSM" if body.get("kty") == "RSA-HSM" else "RSA"
        version.exportable = bool(body.get("attributes", {}).get("exportable"))
        if version.exportable and not body.get("release_policy"):
            raise KvError(400, "BadParameter", "Exportable keys must have a release policy.")
        if body.get("release_policy"):
            self.release.check_policy(body["release_policy"])
            version.release_policy = dict(body["release_policy"])
        self.keys.setdefault(name, []).append(version)
        return version.bundle(self.url)

    def _update(self, name: str, version_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
        version = self._find(name, version_id)
        attributes = body.get("attributes") or {}
        if "enabled" in attributes:
            version.enabled = bool(attributes["enabled"])
        if body.get("key_ops"):
            version.ops = list(body["key_ops"])
        if body.get("release_policy"):
            if (version.release_policy or {}).get("immutable"):
                raise KvError(400, "BadParameter", "The release policy of this key is immutable.")
            self.release.check_policy(body["release_policy"])
            version.release_policy = dict(body["release_policy"])
        version.updated = int(time.time())
        return version.bundle(self.url)

    def _delete(self, name: str) -> dict[str, Any]:
        latest = self._find(name, None)
        bundle = latest.bundle(self.url)
        del self.keys[name]
        now = int(time.time())
        bundle.update(
            {
                "recoveryId": f"{self.url}/deletedkeys/{name}",
                "deletedDate": now,
                "scheduledPurgeDate": now + 90 * 86400,
            }
        )
        self.deleted[name] = bundle
        return bundle

    def _crypto(self, key: _KeyVersion, op_name: str, body: dict[str, Any]) -> dict[str, Any]:
        canonical = {"wrapkey": "wrapKey", "unwrapkey": "unwrapKey", "encrypt": "encrypt", "decrypt": "decrypt"}
        op = canonical.get(op_name)
        if op is None:
            raise KvError(400, "BadParameter", f"operation {op_name} is not supported by the emulator")
        if op not in key.ops:
            raise KvError(403, "Forbidden", f"Operation {op} is not permitted on this key.", "KeyOperationForbidden")
        if not key.enabled and op in ("unwrapKey", "decrypt"):
            raise KvError(403, "Forbidden", f"Operation {op} is not allowed on a disabled key.", "KeyDisabled")
        algorithm = body.get("alg")
        if algorithm not in _ALGORITHMS:
            raise KvError(400, "BadParameter", f"Invalid algorithm {algorithm!r} for an RSA key")
        try:
            value = _unb64url(str(body.get("value", "")))
        except ValueError:
            raise KvError(400, "BadParameter", "value is not base64url") from None
        digest = _ALGORITHMS[algorithm]
        pad = padding.OAEP(mgf=padding.MGF1(digest()), algorithm=digest(), label=None)
        if op in ("wrapKey", "encrypt"):
            result = key.private.public_key().encrypt(value, pad)
        else:
            try:
                result = key.private.decrypt(value, pad)
            except ValueError:
                raise KvError(400, "BadParameter", "The parameter is incorrect.") from None
        return {"kid": f"{self.url}/keys/{key.name}/{key.version}", "value": _b64url(result)}


def serve_https(
    handler: type[BaseHTTPRequestHandler], cert: Path | str, key: Path | str, name: str
) -> tuple[_QuietServer, str, threading.Thread]:
    """An HTTPS server on a free loopback port, serving in a daemon thread: (server, https URL, thread)."""
    server = _QuietServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return server, f"https://127.0.0.1:{server.server_address[1]}", thread


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that time out and hang up (fault tests) are expected; anything else is an emulator bug."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


def _op_of(method: str, path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["secrets"]:
        if method == "GET":
            return "getSecret" if len(parts) > 1 else "listSecrets"
        return {"PUT": "setSecret", "DELETE": "deleteSecret", "PATCH": "updateSecret"}.get(method, method.lower())
    if parts[:1] == ["deletedsecrets"]:
        return {"GET": "getDeletedSecret", "DELETE": "purgeDeletedSecret"}.get(method, method.lower())
    if method == "POST" and parts[-1:] == ["create"]:
        return "create"
    if method == "POST" and parts:
        return {"wrapkey": "wrapKey", "unwrapkey": "unwrapKey"}.get(parts[-1].lower(), parts[-1].lower())
    return {"GET": "get", "PATCH": "update", "DELETE": "delete"}.get(method, method.lower())


class _Handler(BaseHTTPRequestHandler):
    owner: KeyVaultEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the test output quiet
        return

    def _send(self, status: int, payload: dict[str, Any] | None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8") if payload is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-keyvault-service-version", "emulator")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, exc: KvError, headers: dict[str, str] | None = None) -> None:
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.inner:
            error["innererror"] = {"code": exc.inner}
        self._send(exc.status, {"error": error}, headers)

    def _dispatch(self) -> None:
        owner = self.owner
        path, _, _query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {EMULATOR_TOKEN}":
            with owner._lock:
                owner.challenges += 1
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", resource="https://vault.azure.net"'
            )
            code = "Unauthorized"
            message = "AKV10000: Request is missing a Bearer or PoP token." if not auth else "AKV10032: Invalid token."
            self._error(KvError(401, code, message), {"WWW-Authenticate": challenge})
            return
        op = _op_of(self.command, path)
        with owner._lock:
            owner.calls[op] += 1
            delay = owner.delay
            denied = op in owner.denied_ops
        if delay:
            time.sleep(delay)
        fault = owner._fault(op)
        if fault is not None:
            status, headers = fault
            code = "Throttled" if status == 429 else "ServiceUnavailable"
            self._error(KvError(status, code, f"injected fault {status}"), headers)
            return
        if denied:
            permission = f"secrets {_SECRET_PERMISSIONS[op]}" if op in _SECRET_PERMISSIONS else f"keys {op}"
            self._error(
                KvError(
                    403,
                    "Forbidden",
                    f"The user, group or application does not have {permission} permission on key vault "
                    "'emulator'. (emulated AccessDenied)",
                    "AccessDenied",
                )
            )
            return
        try:
            body = json.loads(raw) if raw else {}
            status, payload = owner.handle(self.command, path, body, _query)
        except KvError as exc:
            self._error(exc)
            return
        except (ValueError, TypeError) as exc:
            self._error(KvError(400, "BadParameter", f"bad request: {type(exc).__name__}"))
            return
        self._send(status, payload)

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()
