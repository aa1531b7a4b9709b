from bigdl_ppml_az.ppml_context import *  # noqa: F403, I001  (a BigDL job has: from bigdl.ppml.ppml_context import *)

# A BigDL PPML job written against BigDL's Python API only; tests/test_ppml_context.py checks that nothing but the
# import line names bigdl-ppml-az, then runs it on local keys and on the Key Vault emulator, with and without the
# JVM shim. argv: ppml_args as JSON, the work directory, a JSON file to write the results to, extra SparkConf
# settings as JSON, and the steps to run (default: all).
import json
import os
import sys

from pyspark import SparkConf

ppml_args = json.loads(sys.argv[1])
work = sys.argv[2]
conf = SparkConf()
for key, value in json.loads(sys.argv[4] if len(sys.argv) > 4 else "{}").items():
    conf.set(key, value)
steps = set(json.loads(sys.argv[5])) if len(sys.argv) > 5 else {"pme", "modes", "textfile", "named"}
sc = PPMLContext("bigdl-api-job", ppml_args or None, conf)  # noqa: F405
results = {"paths": {}}


def rows(df):
    return sorted([list(r) for r in df.select("name", "age", "job").collect()], key=str)


def note(label):
    results["paths"][label] = getattr(sc, "last_path", None)


people = sc.read(CryptoMode.PLAIN_TEXT).option("header", "true").schema("name STRING, age INT, job STRING").csv(  # noqa: F405
    os.path.join(work, "people.csv")
)
results["plain"] = rows(people.where("age > 30"))

# the guide's flow: write encrypted, read back, query, write the result
for label, mode, fmt in (
    ("cbc_csv", CryptoMode.AES_CBC_PKCS5PADDING, "csv"),  # noqa: F405
    ("gcm_json", CryptoMode.PPML_GCM, "json"),  # noqa: F405
    ("pme_parquet", CryptoMode.AES_GCM_V1, "parquet"),  # noqa: F405
):
    if fmt == "parquet" and "pme" not in steps:
        continue
    out = os.path.join(work, label)
    writer = sc.write(dataframe=people, crypto_mode=mode).mode("overwrite")
    if fmt == "csv":
        writer = writer.option("header", True)
    getattr(writer, fmt)(out)
    note(f"write_{label}")
    reader = sc.read(crypto_mode=mode)
    if fmt == "csv":
        reader = reader.option("header", "true").schema("name STRING, age INT, job STRING")
    elif fmt == "json":
        reader = reader.schema("name STRING, age INT, job STRING")
    df = getattr(reader, fmt)(out)
    note(f"read_{label}")
    results[label] = rows(df.where("age > 30"))

# a BigDL-encrypted input read by name (ppml-az encrypt output keeps plaintext file names)
if os.path.exists(os.path.join(work, "people_cbc")):
    df = sc.read(CryptoMode.AES_CBC_PKCS5PADDING).option("header", "true").csv(os.path.join(work, "people_cbc"))  # noqa: F405
    note("read_people_cbc")
    results["people_cbc"] = rows(df.selectExpr("name", "cast(age as int) age", "job").where("age > 30"))

# every save mode, on the encrypted CSV directory (error/errorifexists/ignore are checked before any Spark job)
results["base"] = base = people.count()


def count(path):
    return sc.read(CryptoMode.AES_CBC_PKCS5PADDING).option("header", "true").csv(path).count()  # noqa: F405


def write_cbc(save_mode, path):
    sc.write(people, CryptoMode.AES_CBC_PKCS5PADDING).mode(save_mode).option("header", True).csv(path)  # noqa: F405


if "modes" in steps:
    target = os.path.join(work, "cbc_csv")
    modes = {}
    for save_mode in ("error", "errorifexists"):
        try:
            write_cbc(save_mode, target)
            modes[save_mode] = "written"
        except Exception as exc:  # noqa: BLE001 - the test checks the message
            modes[save_mode] = f"{type(exc).__name__}: {exc}"
    write_cbc("ignore", target)
    write_cbc("append", target)
    modes["ignore+append"] = count(target)  # 2x: ignore wrote nothing, append added one copy
    write_cbc("overwrite", target)
    modes["overwrite"] = count(target)
    for save_mode in ("ignore", "error"):  # on a fresh target both write
        fresh = os.path.join(work, f"fresh_{save_mode}")
        write_cbc(save_mode, fresh)
        modes[f"{save_mode}_new"] = any(n.startswith("part-") for n in os.listdir(fresh))
    results["modes"] = modes

# textfile: an RDD of the decrypted lines
if "textfile" in steps:
    lines = sc.textfile(os.path.join(work, "gcm_json"), 2, CryptoMode.PPML_GCM)  # noqa: F405
    note("textfile")
    results["textfile"] = sorted(lines.collect())

# named keys, when the job defines two (spark.bigdl.primaryKey.<name>.*)
names = [n for n in ("amyKey", "bobKey") if sc.spark.conf.get(f"spark.bigdl.primaryKey.{n}.kms.type", "")]
for name in names if "named" in steps else ():
    out = os.path.join(work, f"named_{name}")
    sc.write(people, CryptoMode.PPML_GCM, primary_key_name=name).mode("overwrite").option("header", True).csv(out)  # noqa: F405
    df = sc.read(CryptoMode.PPML_GCM, primary_key_name=name).option("header", "true").csv(out)  # noqa: F405
    results[f"named_{name}"] = df.count()
if len(names) == 2 and "named" in steps:
    try:
        out = os.path.join(work, "named_amyKey")
        sc.read(CryptoMode.PPML_GCM, primary_key_name="bobKey").option("header", "true").csv(out).count()  # noqa: F405
        results["named_cross"] = "read"
    except Exception as exc:  # noqa: BLE001
        results["named_cross"] = f"{type(exc).__name__}: {str(exc)[:2000]}"

results["sql"] = sc.sql("SELECT 40 + 2 AS answer").collect()[0][0]
with open(sys.argv[3], "w") as handle:
    json.dump(results, handle)
