"""A job for `ppml-az submit --master local-cluster[...]` (tests/test_submit.py): encrypted write and read with
keyDelivery=driver, a shuffle of plaintext rows, then a scan of the executors' local shuffle files for a marker.

argv: primary key file, data directory, results JSON, marker string.
"""

import json
import sys
import time
from pathlib import Path

from pyspark.sql import SparkSession

key, data, results, marker = sys.argv[1:5]
spark = SparkSession.builder.getOrCreate()
sc = spark.sparkContext
conf = {k: sc.getConf().get(k, "") for k in ("spark.authenticate", "spark.network.crypto.enabled",
                                                "spark.io.encryption.enabled", "spark.local.dir")}  # fmt: skip
for _ in range(60):  # wait until both executors have registered
    if sc._jsc.sc().getExecutorMemoryStatus().size() - 1 >= 2:
        break
    time.sleep(0.5)
options = {"kms": "local", "primaryKeyPath": key, "keyDelivery": "driver", "format": "csv", "header": "true"}
rows = [(f"{marker}{i:05d}", i % 7) for i in range(4000)]
df = spark.createDataFrame(rows, "name STRING, g INT")
df.write.format("ppml-enc").options(**options).mode("overwrite").save(data)
back = spark.read.format("ppml-enc").options(**options).schema("name STRING, g INT").load(data)
shuffled = back.repartition(4, "g").rdd.map(lambda r: (r[1], r[0])).groupByKey().mapValues(len).collect()
count = sum(n for _, n in shuffled)
local_dir = Path(conf["spark.local.dir"])
files = [p for p in local_dir.rglob("*") if p.is_file() and p.name.startswith("shuffle_")]
with_marker = [str(p) for p in files if marker.encode() in p.read_bytes()]
Path(results).write_text(json.dumps({
    "conf": conf,
    "executors": sc._jsc.sc().getExecutorMemoryStatus().size() - 1,
    "rows": count,
    "expected": len(rows),
    "shuffle_files": len(files),
    "marker_files": with_marker,
}))
spark.stop()
