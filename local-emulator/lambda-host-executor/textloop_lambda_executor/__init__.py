"""LocalStack Lambda runtime executor that runs Python zip functions as host processes.

Selected with ``LAMBDA_RUNTIME_EXECUTOR=host`` (entry point ``host`` in the
``localstack.lambda.runtime_executor`` group). See ``local-emulator/README.md``.
"""
