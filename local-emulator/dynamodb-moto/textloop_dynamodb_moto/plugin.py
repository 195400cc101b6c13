"""Entry point ``dynamodb:moto`` of the ``localstack.aws.provider`` group.

LocalStack resolves provider entry points when it looks services up, so this module stays light:
the provider (and moto) are imported only when DynamoDB is actually loaded.
"""

from localstack.services.plugins import Service, aws_provider


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto() -> Service:
    from localstack.services.moto import MotoFallbackDispatcher

    from textloop_dynamodb_moto.provider import DynamoDBMotoProvider

    return Service.for_provider(
        DynamoDBMotoProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )
