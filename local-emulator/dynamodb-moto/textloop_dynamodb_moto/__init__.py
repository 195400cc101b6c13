"""LocalStack DynamoDB provider served by the moto backend LocalStack already ships.

Selected with ``PROVIDER_OVERRIDE_DYNAMODB=moto`` (entry point ``dynamodb:moto`` in the
``localstack.aws.provider`` group). See ``local-emulator/README.md``.
"""
