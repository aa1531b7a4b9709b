from bigdl_ppml_az.ppml_context import *  # noqa: F403, I001  (BigDL: from bigdl.ppml.ppml_context import *)

# The guide's "simple query" python example (section 3.8) written on BigDL PPML's PPMLContext API: with BigDL's
# import line instead of the one above it runs on BigDL PPML unchanged. The arguments are the guide's:
#
#   python examples/simple_query_ppml_context.py \
#       --kms_type AzureKeyManagementService --azure_vault myKeyVault \
#       --primary_key_path keys/primaryKey --data_key_path keys/dataKey \
#       --input_encrypt_mode aes/cbc/pkcs5padding --output_encrypt_mode plain_text \
#       --input_path abfss://myFS@myDataLake.dfs.core.windows.net/people.csv \
#       --output_path abfss://myFS@myDataLake.dfs.core.windows.net/simple-query-result.csv
#
# (or through `ppml-az submit`). --kms_type local works too. Without --kms_type the keys come from the job's
# spark.bigdl.kms.* / spark.bigdl.primaryKey.defaultKey.* settings (spark-submit --conf), as in BigDL.
import argparse

parser = argparse.ArgumentParser(description="simple query on encrypted people.csv (BigDL PPML API)")
parser.add_argument("--kms_type", default="")
parser.add_argument("--azure_vault", "--vault", dest="vault", default="")
parser.add_argument("--azure_client_id", dest="client_id", default="")
parser.add_argument("--primary_key_path", default="")
parser.add_argument("--data_key_path", default="")
parser.add_argument("--input_encrypt_mode", default="aes/cbc/pkcs5padding")
parser.add_argument("--output_encrypt_mode", default="plain_text")
parser.add_argument("--input_path", required=True)
parser.add_argument("--output_path", required=True)
args = parser.parse_args()

ppml_args = None
if args.kms_type:
    ppml_args = {"kms_type": args.kms_type, "primary_key_material": args.primary_key_path}
    if args.vault:
        ppml_args["vault"] = args.vault
    if args.client_id:
        ppml_args["client_id"] = args.client_id
    if args.data_key_path:
        ppml_args["data_key_path"] = args.data_key_path

sc = PPMLContext("simple-query", ppml_args)  # noqa: F405

df = sc.read(crypto_mode=args.input_encrypt_mode).option("header", "true").csv(args.input_path)
df = df.selectExpr("name", "cast(age as int) as age", "job")
print(f"people: {df.select('name').count()}")
df.select(df["name"], (df["age"] + 1).alias("age + 1")).show()
df.groupBy("job").count().orderBy("job").show()
developers = df.filter((df["job"] == "Developer") & df["age"].between(20, 40)).repartition(1)
sc.write(dataframe=developers, crypto_mode=args.output_encrypt_mode).mode("overwrite").option("header", True).csv(
    args.output_path
)
print(f"wrote developers aged 20-40 to {args.output_path} ({args.output_encrypt_mode})")
