"""Exceptions of bigdl-ppml-az.

Every message names the object (file path, key id) and what to do; none ever contains plaintext or key
material. The CLI prints ``str(exc)`` as its one-line message, so messages are written for humans.
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


def with_source(exc: PpmlError, source: str) -> PpmlError:
    """Return an exception of the same type whose message is prefixed with the object it concerns."""
    message = str(exc)
    if source and source not in message:
        message = f"{source}: {message}"
    new = type(exc)(message)
    new.__cause__ = exc.__cause__
    return new
