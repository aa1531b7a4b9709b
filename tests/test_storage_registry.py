"""A storage scheme is one registered module: a toy scheme registered in-process serves filecrypt and listing."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.errors import ConfigError
from bigdl_ppml_az.kms.local import LocalKms
from bigdl_ppml_az.storage import REGISTRY, LocalFileSystem, expand_paths, filesystem_for, is_remote, register_scheme
from registry_contract import check_live_registry


class MirrorFileSystem(LocalFileSystem):
    """``mirror:///abs/path`` served from local disk: the smallest real file system a plug-in could be."""

    @staticmethod
    def _local(path: str) -> str:
        return urlparse(path).path if "://" in path else path

    def list_files(self, path: str):  # type: ignore[no-untyped-def]
        found = super().list_files(path)
        return [type(s)("mirror://" + s.path if not s.path.startswith("mirror:") else s.path, s.size) for s in found]

    def join(self, base: str, *parts: str) -> str:
        return "/".join([base.rstrip("/"), *parts])


def test_registered_scheme_serves_listing_and_filecrypt(tmp_path: Path) -> None:
    register_scheme(["mirror"], lambda path, options: MirrorFileSystem())
    plain = tmp_path / "in" / "a.csv"
    plain.parent.mkdir()
    plain.write_text("1,x\n2,y\n", encoding="utf-8")
    kms = LocalKms.create(tmp_path / "k")
    assert isinstance(filesystem_for(f"mirror://{plain}"), MirrorFileSystem) and is_remote(f"mirror://{plain}")
    assert [s.path for s in expand_paths([f"mirror://{plain.parent}"])] == [f"mirror://{plain}"]
    filecrypt.encrypt_path(f"mirror://{plain}", f"mirror://{tmp_path}/a.csv.enc", kms)
    assert (tmp_path / "a.csv.enc").read_bytes().startswith(b"PPMLGCM1")
    filecrypt.decrypt_path(f"mirror://{tmp_path}/a.csv.enc", f"mirror://{tmp_path}/back.csv", kms)
    assert (tmp_path / "back.csv").read_text(encoding="utf-8") == "1,x\n2,y\n"


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unsupported scheme 'gs'.*abfss://"):
        filesystem_for("gs://bucket/x")


def test_the_scheme_registry_keeps_the_registry_contract() -> None:
    check_live_registry(REGISTRY, ConfigError)
    register_scheme(["MIRROR2"], "bigdl_ppml_az.storage:LocalFileSystem")  # a scheme may be registered again
    register_scheme(["mirror2"], lambda path, options: LocalFileSystem())
    assert isinstance(filesystem_for("Mirror2:///x"), LocalFileSystem)
