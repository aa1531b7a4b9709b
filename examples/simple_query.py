"""The "simple query" of the BigDL PPML on Azure guide, on bigdl-ppml-az: same arguments, same data, no BigDL.

Reads an encrypted ``people.csv`` (columns name, age, job; a file or a BigDL/ppml-enc output directory),
decrypting only inside Spark workers, runs a few queries, and writes the developers aged 20 to 40 with the
output crypto mode::

    python examples/simple_query.py \\
        --kms_type AzureKeyManagementService --azure_vault myKeyVault \\
        --primary_key_path keys/primaryKey --data_key_path keys/dataKey \\
        --input_encrypt_mode aes/cbc/pkcs5padding --output_encrypt_mode plain_text \\
        --input_path abfss://myFS@myDataLake.dfs.core.windows.net/people.csv \\
        --output_path abfss://myFS@myDataLake.dfs.core.windows.net/simple-query-result.csv

(or through ``spark-submit``). ADLS settings come from the Spark conf the guide already sets, e.g.
``--conf spark.hadoop.fs.azure.account.key.<account>.dfs.core.windows.net=<key>``, and are handed to the
``ppml-enc`` data source here. Local paths and ``--kms_type local`` work too, for users without Azure.
Plain-text output goes through Spark's own CSV writer (for abfss:// that needs hadoop-azure on the classpath,
as in the BigDL image); encrypted output goes through ``ppml-enc``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import bigdl_ppml_az
from bigdl_ppml_az import bigdl_conf, formats, kms
from bigdl_ppml_az.storage.azure import spark_conf_options


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="BigDL PPML simple query on encrypted data (bigdl-ppml-az)")
    parser.add_argument("--kms_type", default=None,
                        help="AzureKeyManagementService (azure, the default) or local; without --kms_type and "
                             "--primary_key_path the spark.bigdl.kms.* / spark.bigdl.primaryKey.defaultKey.* "
                             "settings of the Spark conf are used")  # fmt: skip
    parser.add_argument("--azure_vault", "--vault", dest="azure_vault", help="Key Vault name or URL")
    parser.add_argument("--azure_client_id", help="client id of the user-assigned managed identity (AKS)")
    parser.add_argument("--primary_key_path", help="primary key file (Key Vault key id, or local key)")
    parser.add_argument("--data_key_path", help="BigDL data key file (Base64 of the wrapped data key)")
    parser.add_argument("--input_encrypt_mode", default="aes/cbc/pkcs5padding",
                        help="plain_text, aes/cbc/pkcs5padding, ppml-gcm or auto")  # fmt: skip
    parser.add_argument("--output_encrypt_mode", default="plain_text",
                        help="plain_text, aes/cbc/pkcs5padding or ppml-gcm")  # fmt: skip
    parser.add_argument("--input_path", required=True)
    parser.add_argument("--output_path", required=True)
    parser.add_argument("--master", help="Spark master when not started by spark-submit (e.g. local[2])")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra ppml-enc option (repeatable), e.g. azureBlobEndpoint=... for an emulator",
    )
    return parser.parse_args(argv)


def ppml_options(args: argparse.Namespace, spark: SparkSession) -> dict[str, str]:
    """ppml-enc options from the guide's arguments, plus the ABFS settings of the Spark conf."""
    conf = dict(spark.sparkContext.getConf().getAll())
    options = spark_conf_options(conf)
    bigdl_conf.check_all(conf)  # a spark.bigdl.* setting we cannot honour is an error, even when flags win
    if args.kms_type is None and args.primary_key_path is None:
        from_conf = bigdl_conf.key_options(conf)
        if not from_conf:
            raise SystemExit(
                "--primary_key_path is required (or set spark.bigdl.kms.type and spark.bigdl.kms.key.primary)"
            )
        options.update(from_conf)
    else:
        if args.primary_key_path is None:
            raise SystemExit("--primary_key_path is required with --kms_type")
        # any registered backend, by its canonical name
        options["kms"] = kms.normalize_kms_type(args.kms_type or "AzureKeyManagementService")
        options["primaryKeyPath"] = args.primary_key_path
    if args.data_key_path:
        options["dataKeyPath"] = args.data_key_path
    if args.azure_vault:
        options["vault"] = args.azure_vault
    if args.azure_client_id:
        options["clientId"] = args.azure_client_id
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--option {item!r}: expected KEY=VALUE")
        options[key] = value
    return options


def read_people(spark: SparkSession, path: str, mode: str, options: dict[str, str]) -> DataFrame:
    return (
        spark.read.format("ppml-enc")
        .options(**options)
        .option("cryptoMode", mode)
        .option("format", "csv")
        .option("header", "true")
        .schema("name STRING, age INT, job STRING")
        .load(path)
    )


def write_result(df: DataFrame, path: str, mode: str, options: dict[str, str]) -> None:
    if mode == formats.PLAIN:
        df.write.mode("overwrite").option("header", "true").csv(path)
        return
    (
        df.write.format("ppml-enc")
        .options(**options)
        .option("cryptoMode", mode)
        .option("format", "csv")
        .option("header", "true")
        .mode("overwrite")
        .save(path)
    )


def simple_query(df: DataFrame) -> DataFrame:
    """The guide's queries: count, a projection, then developers aged 20 to 40 (the result that is written)."""
    print(f"people: {df.select('name').count()}")
    df.select(df["name"], (df["age"] + 1).alias("age + 1")).show()
    df.groupBy("job").agg(F.count("*").alias("count"), F.avg("age").alias("average age")).orderBy("job").show()
    return df.filter((df["job"] == "Developer") & df["age"].between(20, 40)).repartition(1)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    input_mode = formats.normalize_mode(args.input_encrypt_mode)
    output_mode = formats.normalize_mode(args.output_encrypt_mode)
    builder = SparkSession.builder.appName("simple-query")
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    try:
        # ppml-enc's workers run this Python when nothing else was chosen (PYSPARK_PYTHON, spark.pyspark.python)
        # and the master is local, so `.venv/bin/python examples/simple_query.py ...` works without activating
        bigdl_ppml_az.register(spark)
        options = ppml_options(args, spark)
        developers = simple_query(read_people(spark, args.input_path, input_mode, options))
        write_result(developers, args.output_path, output_mode, options)
        print(f"wrote developers aged 20-40 to {args.output_path} ({output_mode})")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
