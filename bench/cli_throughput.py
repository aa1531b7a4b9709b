"""Throughput of ``ppml-az encrypt/decrypt`` against raw AES-256-GCM measured in the same run.

Not a test. Example (the command behind the figures in bench/RESULTS.md)::

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
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class Step:
    """Best wall time and the CPU time (user+sys) of that run; CPU time is steadier on a shared machine."""

    wall: float = float("inf")
    cpu: float = 0.0

    def add(self, wall: float, cpu: float) -> None:
        if wall < self.wall:
            self.wall, self.cpu = wall, cpu


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(step: Step, action: Callable[[], object]) -> None:
    """Run once; dirty pages are flushed (untimed) first, so runs start alike."""
    os.sync()
    wall, cpu = time.perf_counter(), cpu_now()
    action()
    step.add(time.perf_counter() - wall, cpu_now() - cpu)


def raw_gcm(size: int, enc: Step, dec: Step) -> None:
    """AES-256-GCM of ``size`` bytes as 1 MiB chunks in memory: the cryptographic floor."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    chunk = os.urandom(CHUNK)
    count, rest = divmod(size, CHUNK)
    pieces = [(i.to_bytes(12, "big"), chunk) for i in range(count)] + (
        [(count.to_bytes(12, "big"), chunk[:rest])] if rest else []
    )
    sealed = [aead.encrypt(nonce, data, None) for nonce, data in pieces[:8]]

    def encrypt_all() -> None:
        for nonce, data in pieces:
            aead.encrypt(nonce, data, None)

    def decrypt_all() -> None:
        for i in range(len(pieces)):
            aead.decrypt(pieces[i % len(sealed)][0], sealed[i % len(sealed)], None)

    timed(enc, encrypt_all)
    timed(dec, decrypt_all)


def copy_file(src: Path, dst: Path) -> None:
    with open(src, "rb") as source, open(dst, "wb") as sink:
        while chunk := source.read(CHUNK):
            sink.write(chunk)


def run_cli(step: Step, args: list[str]) -> int:
    """Run ``python -m bigdl_ppml_az ARGS`` once into ``step``; return its peak RSS in MB."""
    os.sync()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bigdl_ppml_az", *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    step.add(time.perf_counter() - started, usage.ru_utime + usage.ru_stime)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"ppml-az {' '.join(args)} failed with exit code {os.waitstatus_to_exitcode(status)}")
    return int(usage.ru_maxrss // 1024)


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


def split_into(plain: Path, tree: Path, size: int, count: int) -> None:
    tree.mkdir()
    part = size // count
    with open(plain, "rb") as source:
        for i in range(count):
            with open(tree / f"part-{i:05d}", "wb") as sink:
                left = part if i < count - 1 else size - part * (count - 1)
                while left:
                    chunk = source.read(min(CHUNK, left))
                    sink.write(chunk)
                    left -= len(chunk)


def report(base: Path, size: int, file_count: int) -> None:
    """All steps once per round, rounds repeated: every step sees the same changing machine load."""
    key = base / "primary.key"
    kms = LocalKms.create(key)
    plain, tree = base / "plain.bin", base / "tree"
    make_random_file(plain, size)
    split_into(plain, tree, size, file_count)
    names = [
        "raw AES-256-GCM encrypt (memory)",
        "raw AES-256-GCM decrypt (memory)",
        "copy file (read+write, 1 MiB)",
        "filecrypt.encrypt_path",
        "filecrypt.decrypt_path",
        "ppml-az encrypt (subprocess)",
        "ppml-az decrypt (subprocess)",
        f"filecrypt encrypt {file_count} files, jobs=1",
        f"filecrypt encrypt {file_count} files, jobs=2",
        "ppml-az --version (start-up only)",
    ]
    steps = {name: Step() for name in names}
    raw_enc, raw_dec, copy, lib_enc, lib_dec, cli_enc, cli_dec, jobs1, jobs2, startup = (steps[n] for n in names)
    kms_flags = ["--kms", "local", "--primary-key", str(key), "--no-progress"]
    rss = 0
    for _ in range(REPEAT):
        raw_gcm(size, raw_enc, raw_dec)
        timed(copy, lambda: copy_file(plain, base / "copy.bin"))
        (base / "copy.bin").unlink()
        # outputs are removed between runs (untimed): replacing a large file would time the kernel freeing it
        timed(lib_enc, lambda: filecrypt.encrypt_path(str(plain), str(base / "lib.enc"), kms, progress=False))
        timed(
            lib_dec, lambda: filecrypt.decrypt_path(str(base / "lib.enc"), str(base / "lib.dec"), kms, progress=False)
        )
        if not filecmp_equal(plain, base / "lib.dec"):
            raise SystemExit("library round trip changed the data")
        for name in ("lib.enc", "lib.dec"):
            (base / name).unlink()
        rss = max(rss, run_cli(cli_enc, ["encrypt", *kms_flags, str(plain), str(base / "cli.enc")]))
        rss = max(rss, run_cli(cli_dec, ["decrypt", *kms_flags, str(base / "cli.enc"), str(base / "cli.dec")]))
        if not filecmp_equal(plain, base / "cli.dec"):
            raise SystemExit("CLI round trip changed the data")
        for name in ("cli.enc", "cli.dec"):
            (base / name).unlink()
        run_cli(startup, ["--version"])
        for jobs, step in ((1, jobs1), (2, jobs2)):
            out = base / f"tree-{jobs}"

            def encrypt_tree(out: Path = out, jobs: int = jobs) -> None:
                filecrypt.encrypt_path(str(tree), str(out), kms, jobs=jobs, progress=False)

            timed(step, encrypt_tree)
            shutil.rmtree(out)

    mb = size / 1e6
    print(f"\nplaintext {mb:.0f} MB, {os.cpu_count()} cores, python {sys.version.split()[0]}, best of {REPEAT} rounds")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'step':45} {'wall s':>8} {'MB/s':>9} {'cpu s':>8}")
    for name, step in steps.items():
        rate = f"{mb / step.wall:9.1f}" if "version" not in name else f"{'':9}"
        print(f"{name:45} {step.wall:8.3f} {rate} {step.cpu:8.3f}")
    print("\nratios (same run; 1.00 = as fast as the baseline)        wall    cpu")
    pairs = [
        ("ppml-az encrypt / raw GCM encrypt", cli_enc, raw_enc),
        ("ppml-az decrypt / raw GCM decrypt", cli_dec, raw_dec),
        ("filecrypt encrypt / raw GCM encrypt", lib_enc, raw_enc),
        ("filecrypt decrypt / raw GCM decrypt", lib_dec, raw_dec),
        ("ppml-az encrypt / file copy", cli_enc, copy),
        ("ppml-az decrypt / file copy", cli_dec, copy),
        ("filecrypt encrypt / file copy", lib_enc, copy),
        ("filecrypt decrypt / file copy", lib_dec, copy),
        (f"{file_count} files jobs=2 / jobs=1", jobs2, jobs1),
    ]
    for label, a, b in pairs:
        print(f"  {label:52} {a.wall / b.wall:6.2f} {a.cpu / b.cpu if b.cpu else float('nan'):6.2f}")
    print(f"peak RSS of the ppml-az process: {rss} MB (file {mb:.0f} MB)")


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
