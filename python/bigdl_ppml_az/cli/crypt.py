"""``ppml-az encrypt``, ``decrypt`` and ``inspect``: files and directory trees, BigDL PPML compatible."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from .. import filecrypt
from ..errors import ConfigError
from ..formats import AUTO, DEFAULT_WRITE_MODE, UnauthenticatedWarning, all_codecs, ppml_gcm, write_codec
from ..kms.bigdl_keys import read_data_key_plaintext
from ..options import Options
from ._kms_args import add_kms_arguments, flag_options, kms_from_args


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add encrypt, decrypt and inspect to the ppml-az parser."""
    enc = subparsers.add_parser(
        "encrypt",
        help="encrypt a file or directory tree",
        description="Encrypt INPUT (a file or a directory tree) into OUTPUT (a mirrored tree). One fresh data "
        "key per run, wrapped by the KMS; each file gets its own header.",
    )
    add_kms_arguments(enc)
    enc.add_argument(
        "--crypto-mode",
        "--cryptoMode",
        default=DEFAULT_WRITE_MODE,
        metavar="MODE",
        help="ppml-gcm (default, authenticated, splittable) or aes/cbc/pkcs5padding (BigDL PPML compatible)",
    )
    enc.add_argument(
        "--segment-size",
        metavar="SIZE",
        help="ppml-gcm ciphertext segment size in bytes, suffixes allowed (default 1MiB, 4KiB..4MiB)",
    )
    enc.add_argument(
        "--allow-encrypted-input",
        action="store_true",
        help="encrypt input that is encrypted already (refused by default: decrypting would give back ciphertext)",
    )
    _add_common_flags(enc)
    enc.set_defaults(func=_encrypt, parser=enc)

    dec = subparsers.add_parser(
        "decrypt",
        help="decrypt a file or directory tree",
        description="Decrypt INPUT into OUTPUT; each file's format (ppml-gcm, BigDL aes/cbc/pkcs5padding) is "
        "read from its header. Nothing is written for a file that fails authentication. Plaintext files are "
        "written with mode 0600 (owner only) unless --mode says otherwise.",
    )
    add_kms_arguments(dec, data_key_help="BigDL data key file: the key of headerless nativeaescbc data")
    dec.add_argument(
        "--data-key-plaintext-file",
        metavar="FILE",
        help="file holding the BigDL data key string itself (Base64); no KMS needed",
    )
    dec.add_argument("--crypto-mode", "--cryptoMode", default=AUTO, metavar="MODE", help=_MODE_HELP)
    dec.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip the HMAC check of BigDL aes/cbc/pkcs5padding files (only to salvage damaged legacy data)",
    )
    dec.add_argument(
        "--mode",
        dest="file_mode",
        default="600",
        metavar="OCTAL",
        help="file mode of the plaintext files written (default 600: readable by you only; e.g. 640)",
    )
    _add_common_flags(dec)
    dec.set_defaults(func=_decrypt, parser=dec)

    ins = subparsers.add_parser(
        "inspect",
        help="show the header of encrypted files as JSON",
        description="Print what FILE is (format, KMS, primary key id, sizes) as JSON; a directory gives a list. "
        "No key material is printed.",
    )
    ins.add_argument("file", metavar="FILE")
    ins.add_argument("--crypto-mode", "--cryptoMode", default=AUTO, metavar="MODE", help=_MODE_HELP)
    _add_conf_flag(ins)
    ins.set_defaults(func=_inspect)


_MODE_HELP = "auto (default: detect from the header), ppml-gcm, aes/cbc/pkcs5padding or nativeaescbc (no header)"


def _add_conf_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="storage option for abfss:// paths, as Spark's ABFS settings (e.g. fs.azure.account.auth.type=OAuth); "
        "repeatable. Prefer the environment or a managed identity for secrets",
    )


def storage_options(pairs: list[str]) -> Options:
    """The ``--conf KEY=VALUE`` settings, checked like data source options (ABFS ``fs.azure.*`` pass as is)."""
    options: dict[str, str | None] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--conf {pair.split('=')[0]!r}...: expected KEY=VALUE")
        options[key.strip()] = value
    return flag_options(options)


def _add_common_flags(parser: argparse.ArgumentParser) -> None:
    _add_conf_flag(parser)
    replace = parser.add_mutually_exclusive_group()
    replace.add_argument("--force", action="store_true", help="replace existing output files")
    replace.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run into the same OUTPUT: keep each existing output that is complete and "
        "verifies under the same key against its input, redo the rest",
    )
    parser.add_argument("--jobs", type=int, metavar="N", help="files processed in parallel (default: cores)")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: plain lines on stdout when stdout is a file or a pipe, else a bar "
        "when stderr is a terminal)",
    )
    parser.add_argument("input", metavar="INPUT", nargs="?")
    parser.add_argument("output", metavar="OUTPUT", nargs="?")
    # BigDL PPML's EncryptFiles spelling of the two paths (hidden: the positionals are the documented form)
    parser.add_argument("--inputPath", "--input-path", dest="input_flag", metavar="INPUT", help=argparse.SUPPRESS)
    parser.add_argument("--outputPath", "--output-path", dest="output_flag", metavar="OUTPUT", help=argparse.SUPPRESS)


def _paths(args: argparse.Namespace) -> tuple[str, str]:
    """INPUT and OUTPUT, given positionally or with BigDL's ``--inputPath``/``--outputPath`` (usage errors, exit 2,
    when missing or given twice)."""
    parser: argparse.ArgumentParser = args.parser
    for name in ("input", "output"):
        flag = getattr(args, f"{name}_flag")
        if flag is not None:
            if getattr(args, name) is not None:
                parser.error(f"give the {name} once: positionally or as --{name}Path, not both")
            setattr(args, name, flag)
    missing = [name.upper() for name in ("input", "output") if getattr(args, name) is None]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)} (or --inputPath and --outputPath)")
    return args.input, args.output


def progress_spec(flag: bool | None) -> filecrypt.ProgressSpec:
    """``--progress``/``--no-progress`` as given; unset: plain lines on stdout when stdout is a file or a pipe
    (``| tee log`` shows them as they happen), else the library's default (a bar when stderr is a terminal)."""
    if flag is None and not sys.stdout.isatty():
        return filecrypt.ProgressLines(sys.stdout)
    return flag


def _check_jobs(jobs: int | None) -> None:
    if jobs is not None and jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be at least 1")


def _run_resumable(run: Any) -> filecrypt.RunResult:
    """Run ``run()``; a Ctrl-C says how far it got and how to continue."""
    try:
        result: filecrypt.RunResult = run()
    except filecrypt.Interrupted as exc:
        exc.hint = "rerun with --resume to continue"
        raise
    return result


def _report(result: filecrypt.RunResult) -> int:
    for note in result.notes:
        print(f"ppml-az: note: {note}", file=sys.stderr)
    print(result.summary())
    return 0


def _encrypt(args: argparse.Namespace) -> int:
    _check_jobs(args.jobs)
    codec = write_codec(args.crypto_mode, DEFAULT_WRITE_MODE)
    given = flag_options({"segmentSize": args.segment_size})
    segment_size = given.get_size("segmentSize", ppml_gcm.DEFAULT_SEGMENT_SIZE)
    if not ppml_gcm.MIN_SEGMENT_SIZE <= segment_size <= ppml_gcm.MAX_SEGMENT_SIZE:
        raise ConfigError(
            f"--segment-size {args.segment_size}: must be between 4KiB and 4MiB ({ppml_gcm.MIN_SEGMENT_SIZE}.."
            f"{ppml_gcm.MAX_SEGMENT_SIZE} bytes)"
        )
    if not codec.has_segment_size and args.segment_size is not None:
        segmented = " and ".join(c.name for c in all_codecs() if c.has_segment_size)
        raise ConfigError(f"--segment-size applies to {segmented} only, not to {codec.name}")
    source, target = _paths(args)
    kms = kms_from_args(args)
    result = _run_resumable(
        lambda: filecrypt.encrypt_path(
            source,
            target,
            kms,
            crypto_mode=codec.name,
            segment_size=segment_size,
            data_key_file=args.data_key,
            force=args.force,
            jobs=args.jobs,
            progress=progress_spec(args.progress),
            options=storage_options(args.conf),
            allow_encrypted_input=args.allow_encrypted_input,
            resume=args.resume,
        )
    )
    return _report(result)


def _file_mode(text: str) -> int:
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise ConfigError(f"--mode {text}: not an octal file mode; use e.g. 600 (owner only) or 640")
    return mode


def _decrypt(args: argparse.Namespace) -> int:
    _check_jobs(args.jobs)
    source, target = _paths(args)
    file_mode = _file_mode(args.file_mode)
    plaintext_key = read_data_key_plaintext(args.data_key_plaintext_file) if args.data_key_plaintext_file else None
    kms = kms_from_args(args) if args.kms else None
    if kms is None and plaintext_key is None:
        raise ConfigError(
            "decrypt needs the KMS that wrapped the data keys (--kms local --primary-key PATH, or --kms azure "
            "--vault V) or the data key itself (--data-key-plaintext-file FILE)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnauthenticatedWarning)  # reported once as a note instead
        result = _run_resumable(
            lambda: filecrypt.decrypt_path(
                source,
                target,
                kms,
                data_key_plaintext=plaintext_key,
                data_key_file=args.data_key,
                crypto_mode=args.crypto_mode,
                verify=args.verify,
                force=args.force,
                jobs=args.jobs,
                progress=progress_spec(args.progress),
                options=storage_options(args.conf),
                file_mode=file_mode,
                resume=args.resume,
            )
        )
    print(f"plaintext files written with mode {file_mode:04o}{' (owner only)' if not file_mode & 0o077 else ''}; "
          "--mode changes it")  # fmt: skip
    return _report(result)


def _inspect(args: argparse.Namespace) -> int:
    infos = filecrypt.inspect_path(args.file, crypto_mode=args.crypto_mode, options=storage_options(args.conf))
    described: object = infos[0] if len(infos) == 1 and infos[0]["path"] == args.file else infos
    print(json.dumps(described, indent=2))
    return 0
