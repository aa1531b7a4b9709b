"""Exceptions of bigdl-ppml-az, all in this one flat module (the others re-export what they raise).

Every message names the object (file path, key id) and what to do; none ever contains plaintext or key
material. The CLI prints ``str(exc)`` as its one-line message, so messages are written for humans.
:func:`with_source` is the one way to prefix a message with the file it concerns.
"""

from __future__ import annotations


class PpmlError(Exception):
    """Base class: a problem the user can act on (bad input, wrong key, damaged file)."""


class UnknownFormatError(PpmlError):
    """The bytes are not an encrypted object of any format we know (or plaintext where ciphertext is due)."""


class IntegrityError(PpmlError):
    """Authentication failed: the ciphertext, its header or its MAC was modified, truncated or reordered."""


class WrongKeyError(PpmlError):
    """The data key or primary key does not belong to this object."""


class KeyFileError(PpmlError):
    """A primary key or data key file is missing, unreadable or malformed."""


class KmsError(PpmlError):
    """The key management service refused or failed an operation."""


class OutputExistsError(PpmlError):
    """The output already exists and overwriting was not requested."""


class ConfigError(PpmlError):
    """An option is missing, unknown or has a bad value."""


class RegistryError(ConfigError, ValueError):
    """A name or alias is already registered for another codec, backend, scheme or store, or is reserved.

    One type for every registry (see ``_registry``); it is also a ``ValueError`` because the codec registry raised
    that before the registries shared one shape."""


class PatternError(ConfigError):
    """A datetime pattern (or part of it) that ppml-enc cannot honour exactly as Spark does."""


class UndecryptableName(ConfigError):
    """An encrypted file whose name no codec of the shim can be made to open (``x.csv.gz``, no extension)."""


class StorageError(PpmlError):
    """A path is missing, not permitted, or the store failed; the message names the path."""


class MalformedRecordError(PpmlError):
    """A record did not parse and the read runs with mode=FAILFAST."""


class SparkParquetError(PpmlError):
    """A Parquet file or read that Spark refuses too (its reason, in one line)."""


class ParquetRefusedError(SparkParquetError):
    """A Parquet file Spark reads but ppml-enc cannot read exactly as Spark does: refused by name, never read
    differently (the classes are listed in docs/FIDELITY.md)."""


def with_source(exc: Exception, source: str, kind: type[PpmlError] = PpmlError) -> PpmlError:
    """An exception whose message is prefixed with the object it concerns (once: an existing prefix is kept).

    A :class:`PpmlError` keeps its type; any other exception (a ``ValueError`` from a primitive, say) becomes
    ``kind``, so callers that map library errors to ours do it here too.
    """
    message = str(exc)
    if source and source not in message:
        message = f"{source}: {message}"
    new = type(exc)(message) if isinstance(exc, PpmlError) else kind(message)
    new.__cause__ = exc.__cause__
    return new
