"""``ppml-az submit``: ``spark-submit`` with what a secure run of this library needs, the guide's settings included.

Always on: ``spark.authenticate`` (shared secret), ``spark.network.crypto.enabled`` (AES RPC encryption),
``spark.io.encryption.enabled`` (decrypted shuffle and spill data is encrypted on local disk), and a
``spark.redaction.regex`` that also covers this project's and BigDL's key settings. Secrets never go on the command
line (where ``ps`` shows them): the authentication secret and keystore passwords come from environment variables
and reach Spark through a 0600 properties file (or, on Kubernetes, a mounted secret). Because the transport is
then authenticated and encrypted, the driver is told so (``PPML_AZ_SECURE_TRANSPORT=1``), which lets
``keyDelivery=driver`` run. For ``--master k8s://...`` it writes driver and executor pod templates for AKS SGX
node pools (node selection, ``sgx.intel.com/epc`` limits, the enclave devices and AESM socket, the service
account, workload-identity labels). ``--dry-run`` prints the final command instead of running it.

Spark's log level defaults to WARN (``spark.log.level``, Spark 4) unless you set one (``--conf spark.log.level``, a
log4j2 configuration in ``SPARK_CONF_DIR``, ``-Dlog4j2.configurationFile``): a secure run otherwise prints some 280
INFO lines. A JVM job (``APP.jar`` with ``--class MAIN``, e.g. the guide's Scala jobs) gets the same settings.
The temporary directory holding the properties file and generated pod templates is removed when the command
ends, dry run and errors included (``--template-dir`` keeps the templates).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

SECURE_ENV = "PPML_AZ_SECURE_TRANSPORT"
DEFAULT_SECRET_ENV = "SPARK_AUTHENTICATE_SECRET"
REDACTION_REGEX = (
    "(?i)secret|password|token|access[.]key|sas|plaintext|spark[.]bigdl[.]kms|spark[.]bigdl[.]primarykey|"
    "fs[.]ppml[.]secret|fs[.]azure[.]account[.]key|primarykey|datakey"
)
SECURE_SETTINGS = {
    "spark.authenticate": "true",
    "spark.network.crypto.enabled": "true",
    "spark.io.encryption.enabled": "true",
    "spark.io.encryption.keySizeBits": "256",
    "spark.redaction.regex": REDACTION_REGEX,
}
_FORCED_TRUE = ("spark.authenticate", "spark.network.crypto.enabled", "spark.io.encryption.enabled")
SGX_EPC_RESOURCE = "sgx.intel.com/epc"
SGX_NODE_LABEL = "kubernetes.azure.com/sgx_epc_mem_in_MiB"  # set by AKS on confidential-computing (DCsv3) nodes
WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use"
SECRET_MOUNT = "/opt/ppml-az/secrets"
REDACTED = "*********(redacted)"


@dataclass
class Plan:
    """The command, its environment additions and the files written for it (the properties file holds secrets)."""

    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def shown(self) -> str:
        """The command as a shell line with every secret redacted (secrets are never on it anyway)."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        return " ".join(p for p in (env, " ".join(shlex.quote(c) for c in self.command)) if p)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``submit`` to the ppml-az parser."""
    parser = subparsers.add_parser(
        "submit",
        help="spark-submit with the secure settings (auth, RPC and I/O encryption, AKS/SGX pod templates)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--master", required=True, help="local[N], local-cluster[N,C,M], spark://, k8s://https://...")
    parser.add_argument("--deploy-mode", choices=("client", "cluster"), default="client")
    parser.add_argument("--name", help="application name")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting")
    parser.add_argument("--jars", help="extra jars (comma-separated)")
    parser.add_argument("--py-files", help="extra Python files (comma-separated)")
    parser.add_argument("--properties-file", help="your spark-defaults style file (loaded before ours)")
    for flag in ("--driver-memory", "--driver-cores", "--executor-memory", "--executor-cores", "--num-executors"):
        parser.add_argument(flag)
    ship = parser.add_argument_group("the library")
    ship.add_argument(
        "--bundle",
        metavar="ZIP",
        nargs="?",
        const="",
        help="ship bigdl_ppml_az as a zip with --py-files (built here; default: use the installed package)",
    )
    ship.add_argument("--python", metavar="PATH", help="PYSPARK_PYTHON for driver and executors")
    ship.add_argument(
        "--native",
        action="store_true",
        help="add the JVM shim (Spark's own readers with our codec/PME: PPMLContext takes the fast path)",
    )
    ship.add_argument("--shim-jar", metavar="JAR", help="the shim jar to use (k8s: a local:// path in the image)")
    sec = parser.add_argument_group("security")
    sec.add_argument(
        "--auth-secret-env",
        default=DEFAULT_SECRET_ENV,
        metavar="VAR",
        help=f"environment variable holding spark.authenticate.secret (default {DEFAULT_SECRET_ENV}; unset: a "
        "random secret for this run)",
    )
    sec.add_argument(
        "--auth-secret-k8s",
        metavar="SECRET:KEY",
        help="Kubernetes secret holding the authentication secret, mounted into the pods (k8s)",
    )
    sec.add_argument("--keystore", metavar="JKS", help="enable spark.ssl.* (UI/REST TLS) with this keystore")
    sec.add_argument("--keystore-password-env", default="SPARK_SSL_KEYSTORE_PASSWORD", metavar="VAR")
    sec.add_argument("--truststore", metavar="JKS", help="truststore (default: the keystore)")
    sec.add_argument("--truststore-password-env", default="SPARK_SSL_TRUSTSTORE_PASSWORD", metavar="VAR")
    k8s = parser.add_argument_group("Kubernetes (AKS, SGX)")
    k8s.add_argument("--image", help="container image (spark.kubernetes.container.image)")
    k8s.add_argument("--namespace", default="default")
    k8s.add_argument("--service-account", default="spark", help="pods' service account (default spark, as the guide)")
    k8s.add_argument("--sgx-enabled", choices=("true", "false"), default="false", help="run in SGX enclaves")
    k8s.add_argument("--sgx-driver-jvm-memory", metavar="SIZE", help="JVM heap inside the driver enclave (e.g. 2g)")
    k8s.add_argument("--sgx-executor-jvm-memory", metavar="SIZE", help="JVM heap inside executor enclaves (e.g. 7g)")
    k8s.add_argument("--sgx-driver-memory", metavar="SIZE", help="driver enclave size (EPC limit), e.g. 16g")
    k8s.add_argument("--sgx-executor-memory", metavar="SIZE", help="executor enclave size (EPC limit), e.g. 16g")
    k8s.add_argument("--sgx-log-level", default="error")
    k8s.add_argument("--node-pool", metavar="NAME", help="AKS node pool of the SGX nodes (agentpool label)")
    k8s.add_argument(
        "--workload-identity",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="label pods for Azure AD workload identity (Key Vault and storage access); default on",
    )
    k8s.add_argument("--driver-template", help="use this driver pod template instead of the generated one")
    k8s.add_argument("--executor-template", help="use this executor pod template instead of the generated one")
    k8s.add_argument("--template-dir", metavar="DIR", help="where to write the generated pod templates")
    parser.add_argument("--dry-run", action="store_true", help="print the final command (no secrets), run nothing")
    parser.add_argument(
        "--class",
        dest="main_class",
        metavar="MAIN",
        help="main class of a JVM application jar (APP.jar), passed to spark-submit with the same secure settings",
    )
    parser.add_argument("app", metavar="APP.py|APP.jar")
    parser.add_argument("app_args", nargs=argparse.REMAINDER, metavar="ARGS")
    parser.set_defaults(func=_run)


def _pairs(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--conf {item.split('=')[0]!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def is_k8s(master: str) -> bool:
    return master.startswith("k8s://")


def build_plan(
    args: argparse.Namespace, workdir: Path, environ: Mapping[str, str] | None = None, *, dry_run: bool = False
) -> Plan:
    """Everything ``spark-submit`` gets. ``workdir`` receives the 0600 properties file and the pod templates;
    with ``dry_run`` the secrets in it are placeholders, so a kept dry-run directory holds none."""
    environ = os.environ if environ is None else environ
    k8s = is_k8s(args.master)
    user = _pairs(args.conf)
    for key in _FORCED_TRUE:
        if key in user and user[key].strip().lower() != "true":
            raise ConfigError(
                f"--conf {key}={user[key]}: ppml-az submit keeps it on; run spark-submit yourself to turn it off"
            )
    for key in user:
        if key.startswith(("spark.authenticate.secret", "spark.ssl.keyPassword", "spark.ssl.keyStorePassword",
                           "spark.ssl.trustStorePassword")):  # fmt: skip
            raise ConfigError(
                f"--conf {key}=...: a secret on the command line is visible to every local user (ps); pass it "
                "through the environment (--auth-secret-env, --keystore-password-env)"
            )
    conf: dict[str, str] = dict(SECURE_SETTINGS)
    secret_props: dict[str, str] = {}
    plan = Plan([])
    if args.name:
        conf["spark.app.name"] = args.name

    # authentication secret
    if k8s and args.auth_secret_k8s:
        name, sep, key = args.auth_secret_k8s.partition(":")
        if not sep or not name or not key:
            raise ConfigError(f"--auth-secret-k8s {args.auth_secret_k8s}: expected SECRET:KEY")
        mount = f"{SECRET_MOUNT}/{name}"
        conf[f"spark.kubernetes.executor.secrets.{name}"] = mount
        conf["spark.authenticate.secret.executor.file"] = f"{mount}/{key}"
        if args.deploy_mode == "cluster":
            conf[f"spark.kubernetes.driver.secrets.{name}"] = mount
            conf["spark.authenticate.secret.driver.file"] = f"{mount}/{key}"
        else:  # client mode: the driver runs here and reads the same secret from the environment
            value = environ.get(args.auth_secret_env)
            if not value:
                raise ConfigError(
                    f"--auth-secret-k8s in client mode: the driver runs here; export {args.auth_secret_env} with the "
                    f"value of secret {name} key {key} (kubectl get secret {name} -o jsonpath='{{.data.{key}}}' | "
                    "base64 -d)"
                )
            driver_file = workdir / "auth.secret"
            _write_private(driver_file, value)
            conf["spark.authenticate.secret.driver.file"] = str(driver_file)
            plan.files["driver secret"] = str(driver_file)
    elif k8s:
        pass  # Spark on Kubernetes generates a per-application secret and hands it to the executors itself
    else:
        value = environ.get(args.auth_secret_env) or secrets.token_urlsafe(32)
        secret_props["spark.authenticate.secret"] = value

    # TLS for the UI and REST endpoints
    if args.keystore:
        conf.update(
            {
                "spark.ssl.enabled": "true",
                "spark.ssl.keyStore": args.keystore,
                "spark.ssl.keyStoreType": "JKS",
                "spark.ssl.trustStore": args.truststore or args.keystore,
                "spark.ssl.trustStoreType": "JKS",
            }
        )
        keystore_password = environ.get(args.keystore_password_env)
        if not keystore_password:
            raise ConfigError(
                f"--keystore {args.keystore}: export {args.keystore_password_env} with its password (never on the "
                "command line)"
            )
        secret_props["spark.ssl.keyStorePassword"] = keystore_password
        secret_props["spark.ssl.keyPassword"] = keystore_password
        # the truststore defaults to the keystore, and so does its password
        secret_props["spark.ssl.trustStorePassword"] = environ.get(args.truststore_password_env) or keystore_password

    # the library, its Python and the shim
    py_files = [p for p in (args.py_files or "").split(",") if p]
    if args.bundle is not None:
        from .bundle import build_bundle

        target = Path(args.bundle) if args.bundle else workdir / "bigdl_ppml_az.zip"
        if not target.exists():
            build_bundle(target)
        py_files.insert(0, str(target))
        plan.files["bundle"] = str(target)
    jars = [j for j in (args.jars or "").split(",") if j]
    if args.native:
        from .. import jvm

        jar = args.shim_jar
        if jar is None:
            if k8s:
                raise ConfigError("--native on Kubernetes needs --shim-jar local:///path/in/image.jar (build it with "
                                  "`ppml-az shim build` and copy it into the image)")  # fmt: skip
            jar = str(jvm.jar_path())
        jars.append(jar)
        conf["spark.hadoop.io.compression.codecs"] = ",".join(jvm.CODECS)
    python = args.python or (None if k8s else sys.executable)
    if python:
        plan.env["PYSPARK_PYTHON"] = python
        conf["spark.pyspark.python"] = python
        conf["spark.executorEnv.PYSPARK_PYTHON"] = python
    plan.env[SECURE_ENV] = "1"  # the transport is authenticated and encrypted: keyDelivery=driver may run
    if k8s:
        conf[f"spark.kubernetes.driverEnv.{SECURE_ENV}"] = "1"
        conf.update(_k8s_conf(args, workdir, plan))

    where = user_log_settings(user, args.properties_file, environ)
    if where is None:
        conf[LOG_LEVEL] = DEFAULT_LOG_LEVEL
        plan.notes.append(f"Spark log level {DEFAULT_LOG_LEVEL} (--conf {LOG_LEVEL}=INFO shows Spark's INFO lines)")
    _check_main_class(args, plan)

    conf.update(user)  # the user's own settings win, except the forced ones checked above
    command = [_spark_submit(), "--master", args.master, "--deploy-mode", args.deploy_mode]
    for flag in ("driver_memory", "driver_cores", "executor_memory", "executor_cores", "num_executors"):
        value = getattr(args, flag)
        if value:
            command += [f"--{flag.replace('_', '-')}", str(value)]
    if jars:
        command += ["--jars", ",".join(jars)]
    if py_files:
        command += ["--py-files", ",".join(py_files)]
    props = workdir / "ppml-az-secure.conf"
    if dry_run:
        secret_props = {key: REDACTED for key in secret_props}
    _write_private(props, _properties(secret_props, args.properties_file))
    plan.files["properties"] = str(props)
    command += ["--properties-file", str(props), "--load-spark-defaults"]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    if args.main_class:
        command += ["--class", args.main_class]
    command.append(args.app)
    command += list(args.app_args or [])
    plan.command = command
    return plan


LOG_LEVEL = "spark.log.level"
DEFAULT_LOG_LEVEL = "WARN"
_LOG4J_FILES = ("log4j2.properties", "log4j2.xml", "log4j2.yaml", "log4j2.yml", "log4j2.json")
BIGDL_PACKAGE = "com.intel.analytics.bigdl."


def user_log_settings(user: Mapping[str, str], properties_file: str | None, environ: Mapping[str, str]) -> str | None:
    """Where the user chose Spark's logging already (then ppml-az leaves it alone), or None.

    ``spark.log.level`` overrides any log4j2 configuration, so it is only set when none of these is there: a
    ``--conf spark.log.level`` or a ``--conf`` naming a log4j configuration (``-Dlog4j2.configurationFile`` in the
    Java options), the same in ``--properties-file`` or ``spark-defaults.conf``, or a log4j2 file in the Spark
    configuration directory (``SPARK_CONF_DIR``, else ``SPARK_HOME/conf``)."""
    for key, value in user.items():
        if key == LOG_LEVEL or "log4j" in value.lower():
            return f"--conf {key}"
    conf_dir = environ.get("SPARK_CONF_DIR") or (
        os.path.join(environ["SPARK_HOME"], "conf") if environ.get("SPARK_HOME") else None
    )
    files = [properties_file] if properties_file else []
    if conf_dir:
        files.append(os.path.join(conf_dir, "spark-defaults.conf"))
        files += [os.path.join(conf_dir, name) for name in _LOG4J_FILES]
    for path in files:
        if path is None or not os.path.isfile(path):
            continue
        if os.path.basename(path) in _LOG4J_FILES:
            return path
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if LOG_LEVEL in text or "log4j" in text.lower():
            return path
    return None


def _check_main_class(args: argparse.Namespace, plan: Plan) -> None:
    """``--class`` goes with a JVM application jar; BigDL's own classes need BigDL's jar, which is not ours."""
    main_class = args.main_class
    if not main_class:
        return
    if args.app.endswith(".py"):
        raise ConfigError(
            f"--class {main_class}: {args.app} is a Python application (no main class); drop --class, or give the "
            "application jar that holds the class"
        )
    if main_class.startswith(BIGDL_PACKAGE):
        equivalent = " (`ppml-az tpch run` takes its arguments)" if main_class.endswith("TpchQuery") else ""
        plan.notes.append(
            f"{main_class} is a BigDL PPML class: it runs only from BigDL PPML's jar (as APP or in --jars) and "
            f"reads and writes with BigDL's own code; this library's equivalents are in docs/MIGRATING.md{equivalent}"
        )


def _properties(values: Mapping[str, str], user_file: str | None) -> str:
    lines = ["# written by ppml-az submit (mode 0600): settings that must not appear on a command line"]
    if user_file:
        lines.append(Path(user_file).read_text(encoding="utf-8"))
    for key, value in values.items():
        lines.append(f"{key} {value}")
    return "\n".join(lines) + "\n"


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _spark_submit() -> str:
    here = Path(sys.executable).parent / "spark-submit"
    if here.exists():
        return str(here)
    found = shutil.which("spark-submit")
    if not found:
        raise ConfigError("spark-submit not found: install pyspark (it ships spark-submit) or put it on PATH")
    return found


# ---- Kubernetes ---------------------------------------------------------------------------------------------


def _k8s_conf(args: argparse.Namespace, workdir: Path, plan: Plan) -> dict[str, str]:
    conf = {
        "spark.kubernetes.namespace": args.namespace,
        "spark.kubernetes.authenticate.driver.serviceAccountName": args.service_account,
        "spark.kubernetes.authenticate.executor.serviceAccountName": args.service_account,
    }
    if args.image:
        conf["spark.kubernetes.container.image"] = args.image
    sgx = args.sgx_enabled == "true"
    if sgx:  # the names BigDL's images read, so the same image keeps working
        conf["spark.kubernetes.sgx.enabled"] = "true"
        sgx_keys = (
            ("sgx_driver_jvm_memory", "driver.jvm.mem"),
            ("sgx_executor_jvm_memory", "executor.jvm.mem"),
            ("sgx_driver_memory", "driver.mem"),
            ("sgx_executor_memory", "executor.mem"),
        )
        for option, key in sgx_keys:
            value = getattr(args, option)
            if value:
                conf[f"spark.kubernetes.sgx.{key}"] = value
        conf["spark.kubernetes.sgx.log.level"] = args.sgx_log_level
    templates = Path(args.template_dir) if args.template_dir else workdir
    for role in ("driver", "executor"):
        given = getattr(args, f"{role}_template")
        if given:
            path = given
        else:
            epc = getattr(args, f"sgx_{role}_memory") if sgx else None
            template = pod_template(role, args.service_account, sgx=sgx, epc=epc, node_pool=args.node_pool,
                                    workload_identity=args.workload_identity)  # fmt: skip
            path = str(templates / f"{role}-template.yaml")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")  # JSON is YAML
        conf[f"spark.kubernetes.{role}.podTemplateFile"] = path
        plan.files[f"{role} template"] = path
    if args.workload_identity:
        for role in ("driver", "executor"):
            conf[f"spark.kubernetes.{role}.label.{WORKLOAD_IDENTITY_LABEL}"] = "true"
    return conf


def epc_quantity(size: str) -> str:
    """``16g`` (Spark's spelling) -> ``16Gi`` (a Kubernetes quantity for the sgx.intel.com/epc resource)."""
    text = size.strip()
    units = {"k": "Ki", "m": "Mi", "g": "Gi", "t": "Ti"}
    unit = text[-1:].lower()
    number = text[:-1] if unit in units else text
    if not number.isdigit():
        raise ConfigError(f"SGX memory {size!r}: use a size such as 16g or 512m")
    return f"{number}{units.get(unit, '')}"


def pod_template(
    role: str, service_account: str, *, sgx: bool, epc: str | None, node_pool: str | None, workload_identity: bool
) -> dict[str, Any]:
    """A pod template for Spark on AKS: SGX node selection, EPC limits and enclave devices, identity labels."""
    labels = {"app.kubernetes.io/part-of": "bigdl-ppml-az", "spark-role-template": role}
    if workload_identity:
        labels[WORKLOAD_IDENTITY_LABEL] = "true"
    container: dict[str, Any] = {"name": f"spark-{role}", "env": [{"name": SECURE_ENV, "value": "1"}]}
    spec: dict[str, Any] = {"serviceAccountName": service_account, "containers": [container]}
    if node_pool:
        spec["nodeSelector"] = {"kubernetes.azure.com/agentpool": node_pool}
    if sgx:
        if not epc:
            raise ConfigError(f"--sgx-enabled true needs --sgx-{role}-memory SIZE (the enclave size, e.g. 16g)")
        spec.setdefault("nodeSelector", {})
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": SGX_NODE_LABEL, "operator": "Exists"}]}]
                }
            }
        }
        quantity = epc_quantity(epc)
        container["resources"] = {"limits": {SGX_EPC_RESOURCE: quantity}, "requests": {SGX_EPC_RESOURCE: quantity}}
        container["volumeMounts"] = [
            {"name": "sgx-enclave", "mountPath": "/dev/sgx/enclave"},
            {"name": "sgx-provision", "mountPath": "/dev/sgx/provision"},
            {"name": "aesmd-socket", "mountPath": "/var/run/aesmd"},
        ]
        spec["volumes"] = [
            {"name": "sgx-enclave", "hostPath": {"path": "/dev/sgx_enclave", "type": "CharDevice"}},
            {"name": "sgx-provision", "hostPath": {"path": "/dev/sgx_provision", "type": "CharDevice"}},
            {"name": "aesmd-socket", "hostPath": {"path": "/var/run/aesmd", "type": "DirectoryOrCreate"}},
        ]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": labels}, "spec": spec}


def _run(args: argparse.Namespace) -> int:
    """Build the plan in a private temporary directory, run (or print) it, and always remove that directory:
    a dry run and a failed one leave nothing behind (``--template-dir DIR`` is where templates are kept)."""
    workdir = Path(tempfile.mkdtemp(prefix="ppml-az-submit-"))
    try:
        os.chmod(workdir, 0o700)
        plan = build_plan(args, workdir, dry_run=args.dry_run)
        if args.dry_run:
            print(plan.shown())
            for what, path in plan.files.items():
                gone = " (removed after this dry run)" if Path(path).is_relative_to(workdir) else ""
                print(f"# {what}: {path}{gone}")
            for note in plan.notes:
                print(f"# {note}")
            return 0
        env = {**os.environ, **plan.env}
        print(f"ppml-az submit: {plan.shown()}", file=sys.stderr)
        for note in plan.notes:
            print(f"ppml-az submit: {note}", file=sys.stderr)
        return subprocess.call(plan.command, env=env)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
