"""Spark's reading rules, written down: the layer that makes ``ppml-enc`` answer as Spark answers.

Spark is the oracle. Each module here holds the rules of one of Spark's readers as Python, with no
cryptography and no I/O, so that what ``ppml-enc`` returns for decrypted bytes is what Spark's own reader
returns for the same plaintext bytes and options:

- :mod:`.csv`: Spark's CSV line rules and tokenizer (the exact-semantics reader) and when it is needed;
- :mod:`.json`: Spark's JSON reader and JsonInferSchema;
- :mod:`.numbers`: Java's number parsing and Spark's numeric inference and casts;
- :mod:`.datetimes`: Spark 3+/4's datetime patterns (java.time, CORRECTED policy), parse and format;
- :mod:`.parquet`: Spark's Parquet schema mapping, nullability, name resolution, mergeSchema and refusals;
- :mod:`.parquetwrite`: what Spark's Parquet writer puts in a file (physical types, footer schema), so that
  Spark reads back from ppml-enc's files the DataFrame it reads from its own.

Every rule is checked differentially (generated inputs, Spark on the plaintext against ``ppml-enc`` on the
ciphertext): ``tests/test_fidelity_*.py``, ``tests/test_sparkcsv_fast.py``; docs/FIDELITY.md says what is
matched and what is refused by name.
"""
