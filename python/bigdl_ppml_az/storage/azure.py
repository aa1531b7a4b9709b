"""ADLS Gen2 storage (``abfss://`` and ``abfs://``) through the Blob API of ``azure-storage-blob``.

The Blob API works on hierarchical-namespace (ADLS Gen2) accounts and on Azurite alike, while the DFS endpoint
does not exist in Azurite, so everything here (list, ranged read, block upload, copy/delete
rename) is Blob API. Directories are name prefixes; HNS directory marker blobs are skipped when listing.

Credentials, first match wins (every name also accepted with the ``spark.hadoop.`` prefix Spark users set):

1. ``fs.azure.account.auth.type[.<account host>]`` if given picks the kind: ``SharedKey``, ``SAS``, ``OAuth``.
2. Account key: ``fs.azure.account.key.<account>.dfs.core.windows.net`` (or ``.blob.``).
3. SAS: ``fs.azure.sas.fixed.token[.<account host>]`` or ``fs.azure.sas.<container>.<account>.blob.core.windows.net``.
4. OAuth (ABFS names): ``fs.azure.account.oauth.provider.type`` ClientCredsTokenProvider with
   ``fs.azure.account.oauth2.client.id/.secret/.endpoint``; MsiTokenProvider (optional client id);
   WorkloadIdentityTokenProvider.
5. The az CLI's environment (for ``ppml-az`` in a shell): ``AZURE_STORAGE_KEY`` or ``AZURE_STORAGE_SAS_TOKEN``,
   when ``AZURE_STORAGE_ACCOUNT`` is unset or names the path's account.
6. Otherwise DefaultAzureCredential (option ``clientId`` = user-assigned managed identity client id).

Endpoint override for emulators: option ``azureBlobEndpoint`` (alias ``azureEndpoint``) or environment
``PPML_AZ_BLOB_ENDPOINT``, e.g. ``http://127.0.0.1:10000/{account}``; ``{account}`` is replaced.
Errors name the path and the credential *source* (an option name), never a key or token.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import posixpath
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, cast
from urllib.parse import urlparse

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.storage.blob import BlobClient, BlobServiceClient, ContainerClient

from ..errors import ConfigError
from . import FileStatus, StorageError, globs, is_hidden

READ_BUFFER = 4 << 20  # bytes fetched per ranged GET when reading sequentially
BLOCK_SIZE = 8 << 20  # bytes per staged block when writing
_SCHEMES = ("abfss", "abfs")
_CLIENT_FIELDS = ("azureblobendpoint", "azureendpoint", "clientid")
_ENV_CREDENTIALS = ("AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN")


@dataclass(frozen=True)
class AbfsPath:
    """``abfs[s]://<container>@<account>.dfs.<suffix>/<key>``; ``key`` has no leading '/' ('' = container root)."""

    scheme: str
    container: str
    host: str
    key: str

    @property
    def account(self) -> str:
        return self.host.split(".", 1)[0]

    @property
    def endpoint_suffix(self) -> str:
        """``core.windows.net`` (or a sovereign cloud's suffix) from ``<account>.dfs.<suffix>``."""
        parts = self.host.split(".", 2)
        return parts[2] if len(parts) == 3 else "core.windows.net"

    def url(self, key: str | None = None) -> str:
        key = self.key if key is None else key
        return f"{self.scheme}://{self.container}@{self.host}/{key}"

    @classmethod
    def parse(cls, path: str) -> AbfsPath:
        parsed = urlparse(path)
        if parsed.scheme not in _SCHEMES:
            raise ConfigError(f"{path}: not an abfss:// or abfs:// path")
        container, at, host = parsed.netloc.partition("@")
        if not at or not container or not host or "." not in host:
            raise ConfigError(f"{path}: expected abfss://<container>@<account>.dfs.core.windows.net/<path>")
        key = posixpath.normpath(parsed.path).lstrip("/") if parsed.path not in ("", "/") else ""
        if key == ".":
            key = ""
        return cls(parsed.scheme, container, host.lower(), key)


def _lookup(options: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """(option name, value) of the first name present, with or without ``spark.hadoop.``, in any case (Spark
    lower-cases data source option names)."""
    lowered = {key.lower(): value for key, value in options.items()}
    for name in names:
        for candidate in (name, "spark.hadoop." + name):
            value = lowered.get(candidate.lower())
            if value:
                return candidate, value
    return None


def _option(options: Mapping[str, str], name: str) -> str | None:
    found = _lookup(options, name)
    return found[1] if found else None


def spark_conf_options(conf: Mapping[str, str] | list[tuple[str, str]]) -> dict[str, str]:
    """The ABFS settings (``fs.azure.*``, with or without ``spark.hadoop.``) from a Spark conf, for the driver to
    pass to :func:`filesystem_for` next to the data source options."""
    items = conf.items() if isinstance(conf, Mapping) else conf
    out: dict[str, str] = {}
    for key, value in items:
        bare = key[len("spark.hadoop.") :] if key.startswith("spark.hadoop.") else key
        if bare.startswith("fs.azure."):
            out[bare] = value
    return out


@dataclass(frozen=True)
class _Credential:
    value: Any  # account-key dict, SAS string or TokenCredential
    source: str  # where it came from, for error messages; never the secret


def resolve_credential(path: AbfsPath, options: Mapping[str, str]) -> _Credential:
    """Pick the credential for ``path`` following the ABFS driver's settings (see the module docstring)."""
    account, host = path.account, path.host
    blob_host = f"{account}.blob.{path.endpoint_suffix}"
    auth = _lookup(options, f"fs.azure.account.auth.type.{host}", "fs.azure.account.auth.type")
    kind = auth[1].strip().lower() if auth else ""
    if kind not in ("", "sharedkey", "sas", "oauth", "custom"):
        raise ConfigError(f"{auth[0] if auth else ''}={auth[1] if auth else ''}: use SharedKey, SAS or OAuth")
    if kind in ("", "sharedkey"):
        found = _lookup(options, f"fs.azure.account.key.{host}", f"fs.azure.account.key.{blob_host}")
        if found:
            return _Credential(
                {"account_name": account, "account_key": found[1]}, f"account key from option {found[0]}"
            )
        if kind == "sharedkey":
            raise ConfigError(f"{path.url()}: auth type SharedKey needs option fs.azure.account.key.{host}")
    if kind in ("", "sas"):
        found = _lookup(
            options,
            f"fs.azure.sas.fixed.token.{host}",
            "fs.azure.sas.fixed.token",
            f"fs.azure.sas.{path.container}.{blob_host}",
        )
        if found:
            return _Credential(found[1].lstrip("?"), f"SAS token from option {found[0]}")
        if kind == "sas":
            raise ConfigError(f"{path.url()}: auth type SAS needs option fs.azure.sas.fixed.token.{host}")
    if not kind:
        from_env = _environment_credential(account)
        if from_env is not None:
            return from_env
    return _token_credential(path, options)


def _environment_credential(account: str) -> _Credential | None:
    """The az CLI's variables (for ``ppml-az`` on a shell): AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN, used
    when AZURE_STORAGE_ACCOUNT is unset or names this account."""
    named = os.environ.get("AZURE_STORAGE_ACCOUNT")
    if named and named.lower() != account.lower():
        return None
    key = os.environ.get("AZURE_STORAGE_KEY")
    if key:
        return _Credential(
            {"account_name": account, "account_key": key}, "account key from environment AZURE_STORAGE_KEY"
        )
    sas = os.environ.get("AZURE_STORAGE_SAS_TOKEN")
    if sas:
        return _Credential(sas.lstrip("?"), "SAS token from environment AZURE_STORAGE_SAS_TOKEN")
    return None


class _NoToken(Exception):
    """The token credential failed. Not an AzureError on purpose: the Blob SDK's retry policy retries every
    AzureError (a missing identity took 80 s to report), while this propagates at once."""


class _FailFastCredential:
    """Wraps a TokenCredential so that "no token" ends the operation immediately instead of being retried."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        try:
            return self._inner.get_token(*scopes, **kwargs)
        except ClientAuthenticationError as exc:
            reason = (str(exc.message or exc).strip().splitlines() or [type(exc).__name__])[0]
            raise _NoToken(reason) from None


_FAILURES = (AzureError, _NoToken)


def _token_credential(path: AbfsPath, options: Mapping[str, str]) -> _Credential:
    from azure import identity

    host = path.host

    def opt(name: str) -> tuple[str, str] | None:
        return _lookup(options, f"{name}.{host}", name)

    provider = opt("fs.azure.account.oauth.provider.type")
    provider_name = provider[1].rsplit(".", 1)[-1] if provider else ""
    client = opt("fs.azure.account.oauth2.client.id")
    if provider_name == "ClientCredsTokenProvider":
        secret, endpoint = opt("fs.azure.account.oauth2.client.secret"), opt("fs.azure.account.oauth2.client.endpoint")
        if not (client and secret and endpoint):
            raise ConfigError(
                f"{path.url()}: ClientCredsTokenProvider needs fs.azure.account.oauth2.client.id, "
                ".client.secret and .client.endpoint"
            )
        tenant = urlparse(endpoint[1]).path.strip("/").split("/")[0]
        return _Credential(
            identity.ClientSecretCredential(tenant, client[1], secret[1]),
            f"service principal {client[1]} with the client secret from option {secret[0]}",
        )
    if provider_name == "MsiTokenProvider":
        client_id = client[1] if client else None
        label = f" (client id {client_id})" if client_id else ""
        return _Credential(identity.ManagedIdentityCredential(client_id=client_id), f"managed identity{label}")
    if provider_name == "WorkloadIdentityTokenProvider":
        kwargs = {"client_id": client[1]} if client else {}
        return _Credential(identity.WorkloadIdentityCredential(**kwargs), "workload identity")
    if provider:
        raise ConfigError(f"{provider[0]}={provider[1]} is not supported; use an account key, SAS or OAuth settings")
    client_id = _option(options, "clientId")
    label = f" (managed identity client id {client_id})" if client_id else ""
    return _Credential(
        identity.DefaultAzureCredential(managed_identity_client_id=client_id), f"DefaultAzureCredential{label}"
    )


def blob_endpoint(path: AbfsPath, options: Mapping[str, str]) -> str:
    override = (
        _option(options, "azureBlobEndpoint")
        or _option(options, "azureEndpoint")
        or os.environ.get("PPML_AZ_BLOB_ENDPOINT")
    )
    if override:
        return override.replace("{account}", path.account).rstrip("/")
    return f"https://{path.account}.blob.{path.endpoint_suffix}"


def _describe(exc: Exception) -> str:
    code = getattr(exc, "error_code", None)
    status = getattr(exc, "status_code", None)
    return " ".join(part for part in (f"HTTP {status}" if status else "", str(code) if code else "") if part)


class AzureBlobFileSystem:
    """FileSystem over one storage account (the Blob endpoint), built per process from plain options."""

    _cache: dict[tuple[Any, ...], AzureBlobFileSystem] = {}
    _cache_lock = threading.Lock()

    def __init__(self, endpoint: str, credential: _Credential, account: str) -> None:
        self.endpoint = endpoint
        self.account = account
        self.credential_source = credential.source
        self.block_size = BLOCK_SIZE
        self.read_buffer = READ_BUFFER
        value = credential.value
        if hasattr(value, "get_token"):
            value = _FailFastCredential(value)
        self._service = BlobServiceClient(account_url=endpoint, credential=value)

    @classmethod
    def for_path(cls, path: str, options: Mapping[str, str]) -> AzureBlobFileSystem:
        parsed = AbfsPath.parse(path)
        relevant = tuple(
            sorted(
                (key.lower(), value)
                for key, value in options.items()
                if key.lower().startswith(("fs.azure.", "spark.hadoop.fs.azure.")) or key.lower() in _CLIENT_FIELDS
            )
        )
        endpoint = blob_endpoint(parsed, options)
        environment = tuple(os.environ.get(name) for name in _ENV_CREDENTIALS)
        cache_key = (parsed.host, endpoint, relevant, environment)
        with cls._cache_lock:
            found = cls._cache.get(cache_key)
        if found is not None:
            return found
        fs = cls(endpoint, resolve_credential(parsed, options), parsed.account)
        with cls._cache_lock:
            return cls._cache.setdefault(cache_key, fs)

    # ---- helpers ---------------------------------------------------------------------------------------------
    def _parse(self, path: str) -> AbfsPath:
        parsed = AbfsPath.parse(path)
        if parsed.account != self.account:
            raise ConfigError(f"{path}: this file system serves account {self.account}; got {parsed.account}")
        return parsed

    def _container(self, parsed: AbfsPath) -> ContainerClient:
        return self._service.get_container_client(parsed.container)

    def _blob(self, parsed: AbfsPath, key: str | None = None) -> BlobClient:
        return self._service.get_blob_client(parsed.container, parsed.key if key is None else key)

    def _error(self, exc: Exception, path: str, action: str) -> StorageError:
        if isinstance(exc, _NoToken):
            return StorageError(f"{path}: could not get a token from {self.credential_source} to {action} ({exc})")
        detail = _describe(exc)
        if isinstance(exc, ResourceNotFoundError):
            return StorageError(f"{path}: not found ({detail or 'HTTP 404'}) while trying to {action}")
        if isinstance(exc, ResourceModifiedError):
            return StorageError(f"{path}: the object changed while it was being read ({detail}); rerun the job")
        status = getattr(exc, "status_code", None)
        if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
            return StorageError(
                f"{path}: access denied ({detail or 'authentication failed'}) to {action} using "
                f"{self.credential_source}; check the key/SAS and the identity's Storage Blob Data role"
            )
        if isinstance(exc, ServiceRequestError):
            return StorageError(f"{path}: cannot reach {self.endpoint} to {action} ({type(exc).__name__})")
        if isinstance(exc, HttpResponseError):
            return StorageError(f"{path}: {action} failed ({detail or 'HTTP error'})")
        return StorageError(f"{path}: {action} failed ({type(exc).__name__})")

    def _iter_blobs(
        self, parsed: AbfsPath, prefix: str, page_size: int | None = None
    ) -> Iterator[tuple[str, int, bool, str | None]]:
        """(name, size, is_directory_marker, etag) of blobs whose name starts with ``prefix``: one flat (recursive)
        listing of the whole tree, fetched page by page (up to 5,000 names per request), never one call per
        directory."""
        blobs = self._container(parsed).list_blobs(
            name_starts_with=prefix or None, include=["metadata"], results_per_page=page_size
        )
        for blob in blobs:
            metadata = blob.metadata or {}
            marker = str(metadata.get("hdi_isfolder", "")).lower() == "true"
            yield blob.name, int(blob.size or 0), marker, blob.etag

    # ---- FileSystem protocol ---------------------------------------------------------------------------------
    def list_files(self, path: str) -> list[FileStatus]:
        parsed = self._parse(path)
        try:
            if parsed.key:
                props = self._blob_properties(parsed)
                if props is not None and not _is_folder(props.metadata):
                    return [FileStatus(parsed.url(), int(props.size), props.etag)]
            prefix = parsed.key + "/" if parsed.key else ""
            found: list[FileStatus] = []
            any_blob = False
            for name, size, marker, etag in self._iter_blobs(parsed, prefix):
                any_blob = True
                relative = name[len(prefix) :]
                if marker or not relative or any(is_hidden(part) for part in relative.split("/")):
                    continue
                found.append(FileStatus(parsed.url(name), size, etag))
        except _FAILURES as exc:
            raise self._error(exc, path, "list") from None
        if not any_blob and parsed.key:
            raise StorageError(f"{path}: no such file or directory")
        if not any_blob and not self._container_exists(parsed, path):
            raise StorageError(f"{path}: container {parsed.container} does not exist in account {self.account}")
        return sorted(found, key=lambda status: status.path)

    def _container_exists(self, parsed: AbfsPath, path: str) -> bool:
        try:
            return bool(self._container(parsed).exists())
        except _FAILURES as exc:
            raise self._error(exc, path, "check the container") from None

    def _blob_properties(self, parsed: AbfsPath) -> Any:
        try:
            return self._blob(parsed).get_blob_properties()
        except ResourceNotFoundError:
            return None

    def glob(self, pattern: str) -> list[str]:
        """Spark's (Hadoop's) glob rules (:mod:`.globs`), over one flat listing below the literal prefix."""
        found: list[str] = []
        for expanded in globs.expand_slash_braces(pattern):
            for url in self._glob_one(expanded):
                if url not in found:
                    found.append(url)
        return sorted(found)

    def _glob_one(self, pattern: str) -> list[str]:
        parsed = self._parse(pattern)
        parts = [part for part in parsed.key.split("/") if part] if parsed.key else []
        fixed: list[str] = []
        for part in parts:
            if globs.component_regex(part, pattern) is not None:
                break
            fixed.append(globs.unescape(part))
        prefix = "/".join(fixed) + "/" if fixed else ""
        tree: dict[str, set[str]] = {}
        try:
            for name, _size, _marker, _etag in self._iter_blobs(parsed, prefix):
                pieces = name.split("/")
                for depth in range(1, len(pieces) + 1):
                    tree.setdefault("/".join(pieces[: depth - 1]), set()).add(pieces[depth - 1])
        except _FAILURES as exc:
            raise self._error(exc, pattern, "list") from None
        names = globs.expand(
            pattern,
            "",
            parts,
            children=lambda directory: tree.get(directory, ()),
            exists=lambda name: name.rsplit("/", 1)[-1] in tree.get(name.rpartition("/")[0], ()),
            join=lambda base, name: f"{base}/{name}" if base else name,
        )
        return [parsed.url(name) for name in names]

    def exists(self, path: str) -> bool:
        parsed = self._parse(path)
        try:
            if not parsed.key:
                return bool(self._container(parsed).exists())
            return self._blob(parsed).exists() or self.is_dir(path)
        except _FAILURES as exc:
            raise self._error(exc, path, "check") from None

    def is_dir(self, path: str) -> bool:
        parsed = self._parse(path)
        try:
            if not parsed.key:
                return bool(self._container(parsed).exists())
            return next(iter(self._iter_blobs(parsed, parsed.key + "/", page_size=1)), None) is not None
        except _FAILURES as exc:
            raise self._error(exc, path, "check") from None

    def size(self, path: str) -> int:
        parsed = self._parse(path)
        try:
            return int(self._blob(parsed).get_blob_properties().size)
        except _FAILURES as exc:
            raise self._error(exc, path, "read") from None

    def open_read(self, path: str) -> BinaryIO:
        parsed = self._parse(path)
        blob = self._blob(parsed)
        try:
            props = blob.get_blob_properties()
        except _FAILURES as exc:
            raise self._error(exc, path, "read") from None
        raw = _RangedBlobReader(blob, int(props.size), props.etag, path, self._error)
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=self.read_buffer))

    def open_listed(self, status: FileStatus, buffer_size: int | None = None) -> BinaryIO:
        """Like :meth:`open_read` for a file this listing returned: its size and ETag come from the listing, so
        opening costs no request (the first ranged GET is the first request) and every read is pinned to the
        listed version (a file replaced since the listing fails with "changed while it was being read")."""
        if status.etag is None:
            return self.open_read(status.path)
        parsed = self._parse(status.path)
        raw = _RangedBlobReader(self._blob(parsed), status.size, status.etag, status.path, self._error)
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=buffer_size or self.read_buffer))

    def open_write(self, path: str) -> BinaryIO:
        parsed = self._parse(path)
        if not parsed.key:
            raise StorageError(f"{path}: cannot write to a container root; name a file")
        return cast(BinaryIO, _BlockBlobWriter(self._blob(parsed), path, self._error, self.block_size))

    def read_bytes(self, path: str) -> bytes:
        parsed = self._parse(path)
        try:
            return bytes(self._blob(parsed).download_blob().readall())
        except _FAILURES as exc:
            raise self._error(exc, path, "read") from None

    def rename(self, src: str, dst: str) -> None:
        """Copy then delete (Blob API; not atomic for directories). A file or a whole directory tree."""
        source, target = self._parse(src), self._parse(dst)
        if source.container != target.container:
            raise StorageError(f"{src} -> {dst}: rename across containers is not supported")
        try:
            if source.key and self._blob(source).exists():
                self._copy(source, source.key, target.key)
                self._blob(source).delete_blob()
                return
            prefix = source.key + "/" if source.key else ""
            names = [name for name, _size, _marker, _etag in self._iter_blobs(source, prefix)]
            if not names:
                raise StorageError(f"{src}: no such file or directory to rename")
            target_prefix = target.key + "/" if target.key else ""
            for name in names:
                self._copy(source, name, target_prefix + name[len(prefix) :])
            for name in names:
                self._blob(source, name).delete_blob()
        except _FAILURES as exc:
            raise self._error(exc, src, f"rename to {dst}") from None

    def _copy(self, parsed: AbfsPath, src_key: str, dst_key: str) -> None:
        destination = self._blob(parsed, dst_key)
        destination.start_copy_from_url(self._blob(parsed, src_key).url)
        deadline = time.monotonic() + 600
        while True:
            copy = destination.get_blob_properties().copy
            if copy.status in (None, "success"):
                return
            if copy.status != "pending" or time.monotonic() > deadline:
                raise StorageError(f"{parsed.url(dst_key)}: server-side copy ended with status {copy.status}")
            time.sleep(0.2)

    def delete(self, path: str) -> None:
        parsed = self._parse(path)
        try:
            if parsed.key:
                blob = self._blob(parsed)
                with contextlib.suppress(ResourceNotFoundError):
                    blob.delete_blob()
            prefix = parsed.key + "/" if parsed.key else ""
            if not prefix:
                raise StorageError(f"{path}: refusing to delete a whole container")
            names = [name for name, _size, _marker, _etag in self._iter_blobs(parsed, prefix)]
            # deepest first, so HNS directory markers go after their contents
            for name in sorted(names, key=lambda n: n.count("/"), reverse=True):
                with contextlib.suppress(ResourceNotFoundError):
                    self._blob(parsed, name).delete_blob()
        except _FAILURES as exc:
            raise self._error(exc, path, "delete") from None

    def join(self, base: str, *parts: str) -> str:
        parsed = self._parse(base)
        key = posixpath.join(parsed.key, *parts) if parsed.key else posixpath.join(*parts) if parts else ""
        return parsed.url(key)


def _is_folder(metadata: Mapping[str, str] | None) -> bool:
    return str((metadata or {}).get("hdi_isfolder", "")).lower() == "true"


class _RangedBlobReader(io.RawIOBase):
    """Seekable raw reader issuing one ranged GET per ``readinto``; pinned to the ETag seen at open."""

    def __init__(self, blob: BlobClient, size: int, etag: str, path: str, on_error: Any) -> None:
        super().__init__()
        self._blob, self._size, self._etag, self._path, self._on_error = blob, size, etag, path, on_error
        self._pos = 0
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._pos + offset
        elif whence == io.SEEK_END:
            position = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self._pos = position
        return position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        length = min(len(view), self._size - self._pos)
        if length <= 0:
            return 0
        try:
            data = self._blob.download_blob(
                offset=self._pos, length=length, etag=self._etag, match_condition=MatchConditions.IfNotModified
            ).readall()
        except _FAILURES as exc:
            raise self._on_error(exc, self._path, "read") from None
        self.requests += 1
        count = len(data)
        view[:count] = data
        self._pos += count
        return count


class _BlockBlobWriter(io.RawIOBase):
    """Stages blocks as data arrives and commits the block list on close: the blob appears whole or not at all.

    Leaving a ``with`` block by an exception abandons the upload (uncommitted blocks expire in Azure).
    """

    def __init__(self, blob: BlobClient, path: str, on_error: Any, block_size: int = BLOCK_SIZE) -> None:
        super().__init__()
        self._blob, self._path, self._on_error, self._block_size = blob, path, on_error, block_size
        self._buffer = bytearray()
        self._blocks: list[str] = []
        self._prefix = uuid.uuid4().hex[:16]
        self._aborted = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError(f"{self._path}: write to a closed blob writer")
        view = memoryview(data).cast("B")
        self._buffer += view
        while len(self._buffer) >= self._block_size:
            self._stage(bytes(self._buffer[: self._block_size]))
            del self._buffer[: self._block_size]
        return len(view)

    def _stage(self, chunk: bytes) -> None:
        block_id = base64.b64encode(f"{self._prefix}-{len(self._blocks):08d}".encode("ascii")).decode("ascii")
        try:
            self._blob.stage_block(block_id, chunk, length=len(chunk))
        except _FAILURES as exc:
            self._aborted = True
            raise self._on_error(exc, self._path, "write") from None
        self._blocks.append(block_id)

    def abort(self) -> None:
        self._aborted = True
        self._buffer.clear()
        super().close()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if not self._aborted:
                if self._buffer:
                    self._stage(bytes(self._buffer))
                    self._buffer.clear()
                from azure.storage.blob import BlobBlock

                try:
                    self._blob.commit_block_list([BlobBlock(block_id) for block_id in self._blocks])
                except _FAILURES as exc:
                    raise self._on_error(exc, self._path, "write") from None
        finally:
            super().close()

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


__all__ = ["AbfsPath", "AzureBlobFileSystem", "blob_endpoint", "resolve_credential", "spark_conf_options"]


def filesystem_for_path(path: str, options: Mapping[str, str]) -> AzureBlobFileSystem:
    """The ``abfs://``/``abfss://`` entry of the storage scheme registry."""
    return AzureBlobFileSystem.for_path(path, dict(options))
