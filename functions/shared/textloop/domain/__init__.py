"""The loop's domain: records, settings, the pool, data sets, selection, metrics, the gate, the
audit record and the data lake's key layout, as plain Python. Nothing here imports boto3,
botocore or powertools, or anything from ``adapters``, ``steps``, ``api``, ``events`` or
``handler`` (``tests/unit/test_architecture.py``)."""
