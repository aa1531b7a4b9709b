"""Throughput of ``ppml-az encrypt/decrypt`` against raw AES-256-GCM measured in the same run.

Not a test. Example (what the README numbers come from)::

    /work/venv/bin/python bench/cli_throughput.py --size-mb 1024 --dir /tmp/cli/bench

Steps, all on one random file of ``--size-mb`` MB (1 MB = 10**6 bytes here, as in the printed MB/s):

1. raw: ``cryptography`` AESGCM encrypt/decrypt of 1 MiB chunks in memory, same total size (the floor);
2. copy: read + write the file in 1 MiB chunks through Python (the I/O floor on this disk);
3. library: ``filecrypt.encrypt_path`` / ``decrypt_path`` of the file (ppml-gcm, 1 MiB segments);
4. CLI: ``ppml-az encrypt`` / ``decrypt`` in a subprocess (includes interpreter start-up), with its peak RSS;
5. threads: the same bytes split into ``--files`` files, library encryption with 1 worker and with 2.

The file is usually in the page cache (it was just written), so this measures CPU and memory bandwidth more
than the disk. Everything is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bigdl_ppml_az import filecrypt
from bigdl_ppml_az.kms.local import LocalKms

CHUNK = 1 << 20


def make_random_file(path: Path, size: int) -> None:
    with open(path, "wb") as sink:
        left = size
        while left:
            n = min(left, 16 * CHUNK)
            sink.write(os.urandom(n))
            left -= n


REPEAT = 1


def timed(action: Callable[[], object], cleanup: Callable[[], object] = lambda: None) -> float:
    """Best of REPEAT runs; dirty pages are flushed (untimed) before each, so runs start alike."""
    best = float("inf")
    for _ in range(REPEAT):
        os.sync()
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
        cleanup()
    return best


def raw_gcm(size: int) -> tuple[float, float]:
    """Seconds to encrypt and to decrypt ``size`` bytes as 1 MiB AES-256-GCM chunks in memory."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    chunk = os.urandom(CHUNK)
    count, rest = divmod(size, CHUNK)
    pieces = [(i.to_bytes(12, "big"), chunk) for i in range(count)] + (
        [(count.to_bytes(12, "big"), chunk[:rest])] if rest else []
    )
    sealed: list[bytes] = []
    started = time.perf_counter()
    for nonce, data in pieces:
        sealed.append(aead.encrypt(nonce, data, None))
        if len(sealed) > 4:
            sealed.pop(0)
    enc = time.perf_counter() - started
    ciphertexts = [(nonce, aead.encrypt(nonce, data, None)) for nonce, data in pieces[:8]]
    started = time.perf_counter()
    for i in range(len(pieces)):
        nonce, ciphertext = ciphertexts[i % len(ciphertexts)]
        aead.decrypt(nonce, ciphertext, None)
    dec = time.perf_counter() - started
    return enc, dec


def copy_file(src: Path, dst: Path) -> None:
    with open(src, "rb") as source, open(dst, "wb") as sink:
        while chunk := source.read(CHUNK):
            sink.write(chunk)


def run_cli(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (MB) of one ``python -m bigdl_ppml_az`` subprocess."""
    os.sync()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bigdl_ppml_az", *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"ppml-az {' '.join(args)} failed with exit code {process.returncode}")
    return seconds, usage.ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="plaintext size in MB (default 1024)")
    parser.add_argument("--dir", default=None, help="scratch directory (default: a new temp dir)")
    parser.add_argument("--files", type=int, default=4, help="files for the thread comparison (default 4)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per step, best one counts (default 1)")
    args = parser.parse_args()
    global REPEAT
    REPEAT = max(1, args.repeat)
    size = args.size_mb * 1_000_000
    base = Path(tempfile.mkdtemp(prefix="ppml-az-bench-", dir=args.dir))
    try:
        report(base, size, args.files)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def report(base: Path, size: int, file_count: int) -> None:
    key = base / "primary.key"
    kms = LocalKms.create(key)
    plain = base / "plain.bin"
    make_random_file(plain, size)
    mb = size / 1e6
    rows: list[tuple[str, float]] = []

    raw = [raw_gcm(size) for _ in range(REPEAT)]
    raw_enc, raw_dec = min(r[0] for r in raw), min(r[1] for r in raw)
    rows += [("raw AES-256-GCM encrypt (memory)", raw_enc), ("raw AES-256-GCM decrypt (memory)", raw_dec)]
    copy = timed(lambda: copy_file(plain, base / "copy.bin"), lambda: (base / "copy.bin").unlink())
    rows.append(("copy file (read+write, 1 MiB)", copy))

    # outputs are removed between runs (untimed): replacing a large file would time the kernel freeing it
    lib_enc = timed(
        lambda: filecrypt.encrypt_path(str(plain), str(base / "lib.enc"), kms, progress=False),
        lambda: (base / "lib.enc").unlink() if REPEAT > 1 else None,
    )
    if not (base / "lib.enc").exists():
        filecrypt.encrypt_path(str(plain), str(base / "lib.enc"), kms, progress=False)
    lib_dec = timed(
        lambda: filecrypt.decrypt_path(str(base / "lib.enc"), str(base / "lib.dec"), kms, progress=False),
        lambda: (base / "lib.dec").unlink(),
    )
    (base / "lib.enc").unlink()
    rows += [("filecrypt.encrypt_path", lib_enc), ("filecrypt.decrypt_path", lib_dec)]

    kms_flags = ["--kms", "local", "--primary-key", str(key), "--no-progress"]
    startup, _ = run_cli(["--version"])
    cli_enc = cli_dec = float("inf")
    rss_enc = rss_dec = 0
    for _ in range(REPEAT):
        seconds, rss = run_cli(["encrypt", *kms_flags, str(plain), str(base / "cli.enc")])
        cli_enc, rss_enc = min(cli_enc, seconds), max(rss_enc, rss)
        seconds, rss = run_cli(["decrypt", *kms_flags, str(base / "cli.enc"), str(base / "cli.dec")])
        cli_dec, rss_dec = min(cli_dec, seconds), max(rss_dec, rss)
        if not filecmp_equal(plain, base / "cli.dec"):
            raise SystemExit("CLI round trip changed the data")
        for name in ("cli.enc", "cli.dec"):
            (base / name).unlink()
    rows += [("ppml-az encrypt (subprocess)", cli_enc), ("ppml-az decrypt (subprocess)", cli_dec)]

    tree = base / "tree"
    tree.mkdir()
    part = size // file_count
    with open(plain, "rb") as source:
        for i in range(file_count):
            with open(tree / f"part-{i:05d}", "wb") as sink:
                left = part if i < file_count - 1 else size - part * (file_count - 1)
                while left:
                    chunk = source.read(min(CHUNK, left))
                    sink.write(chunk)
                    left -= len(chunk)
    plain.unlink()
    threads: dict[int, float] = {}
    for jobs in (1, 2):
        out = base / f"tree-{jobs}"

        def encrypt_tree(out: Path = out, jobs: int = jobs) -> None:
            filecrypt.encrypt_path(str(tree), str(out), kms, jobs=jobs, progress=False)

        threads[jobs] = timed(encrypt_tree, lambda out=out: shutil.rmtree(out))  # type: ignore[misc]
    rows += [(f"filecrypt encrypt {file_count} files, jobs={jobs}", seconds) for jobs, seconds in threads.items()]

    print(f"\nplaintext {mb:.0f} MB, {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"{'step':45} {'seconds':>9} {'MB/s':>9}")
    for name, seconds in rows:
        print(f"{name:45} {seconds:9.3f} {mb / seconds:9.1f}")
    print("\nratios (time, same run; 1.00 = as fast as the baseline)")
    print(f"  ppml-az encrypt / raw GCM encrypt     {cli_enc / raw_enc:6.2f}")
    print(f"  ppml-az decrypt / raw GCM decrypt     {cli_dec / raw_dec:6.2f}")
    print(f"  filecrypt encrypt / raw GCM encrypt   {lib_enc / raw_enc:6.2f}")
    print(f"  filecrypt decrypt / raw GCM decrypt   {lib_dec / raw_dec:6.2f}")
    print(f"  filecrypt encrypt / file copy         {lib_enc / copy:6.2f}")
    print(f"  filecrypt decrypt / file copy         {lib_dec / copy:6.2f}")
    print(f"  {file_count} files jobs=2 / jobs=1               {threads[2] / threads[1]:6.2f}")
    print(f"  (ppml-az --version alone takes {startup:.2f} s: interpreter and import start-up)")
    print(f"peak RSS of the CLI process: encrypt {rss_enc} MB, decrypt {rss_dec} MB (file {mb:.0f} MB)")


def filecmp_equal(a: Path, b: Path) -> bool:
    with open(a, "rb") as left, open(b, "rb") as right:
        while True:
            x, y = left.read(CHUNK), right.read(CHUNK)
            if x != y:
                return False
            if not x:
                return True


if __name__ == "__main__":
    main()
