"""DynamoDB for host-mode LocalStack without Java: every operation is answered by moto.

LocalStack's own DynamoDB provider proxies to DynamoDB Local, which it downloads together with a
Java runtime on first use; neither is possible offline. LocalStack also bundles moto (moto-ext),
whose DynamoDB backend covers the table and item API an application uses: conditional writes
(ConditionalCheckFailedException), Query/Scan, UpdateItem expressions, batch and transactional
writes, TTL, tags, continuous backups, SSE descriptions and the WarmThroughput status Terraform's
aws_dynamodb_table waits for after CreateTable.

``MotoFallbackDispatcher`` sends every request the provider does not implement to moto, and
moto's error responses reach the client as the same DynamoDB error codes. The provider only
fills one gap Terraform would notice: moto ignores PITR's ``RecoveryPeriodInDays``.
"""

from __future__ import annotations

import threading

from localstack.aws.api import RequestContext
from localstack.aws.api.dynamodb import (
    DeleteTableOutput,
    DescribeContinuousBackupsOutput,
    DynamodbApi,
    PointInTimeRecoverySpecification,
    TableArn,
    UpdateContinuousBackupsOutput,
)
from localstack.services.moto import call_moto
from localstack.services.plugins import ServiceLifecycleHook

# What AWS reports when PITR is enabled without a period.
DEFAULT_RECOVERY_PERIOD_DAYS = 35


def _table_key(context: RequestContext, table_name: str) -> tuple[str, str, str]:
    # TableName may also be given as the table's ARN (arn:aws:dynamodb:...:table/NAME).
    name = table_name.rsplit("/", 1)[-1] if table_name.startswith("arn:") else table_name
    return context.account_id, context.region, name


class DynamoDBMotoProvider(DynamodbApi, ServiceLifecycleHook):
    """Every DynamodbApi method not defined here raises NotImplementedError and goes to moto.

    Operations moto-ext lacks (global tables v2017, Kinesis streaming destinations, contributor
    insights, replica auto scaling, ListImports) are answered as not implemented (HTTP 501).
    """

    def __init__(self) -> None:
        self._recovery_periods: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def _with_recovery_period(self, context: RequestContext, table_name: str, response: dict):
        description = response.get("ContinuousBackupsDescription") or {}
        pitr = description.get("PointInTimeRecoveryDescription") or {}
        if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
            with self._lock:
                period = self._recovery_periods.get(_table_key(context, table_name))
            pitr["RecoveryPeriodInDays"] = period or DEFAULT_RECOVERY_PERIOD_DAYS
        return response

    def update_continuous_backups(
        self,
        context: RequestContext,
        table_name: TableArn,
        point_in_time_recovery_specification: PointInTimeRecoverySpecification,
        **kwargs,
    ) -> UpdateContinuousBackupsOutput:
        response = call_moto(context)
        key = _table_key(context, table_name)
        with self._lock:
            if point_in_time_recovery_specification.get("PointInTimeRecoveryEnabled"):
                period = point_in_time_recovery_specification.get("RecoveryPeriodInDays")
                if period:
                    self._recovery_periods[key] = period
            else:
                self._recovery_periods.pop(key, None)
        return self._with_recovery_period(context, table_name, response)

    def describe_continuous_backups(
        self, context: RequestContext, table_name: TableArn, **kwargs
    ) -> DescribeContinuousBackupsOutput:
        return self._with_recovery_period(context, table_name, call_moto(context))

    def delete_table(
        self, context: RequestContext, table_name: TableArn, **kwargs
    ) -> DeleteTableOutput:
        response = call_moto(context)
        with self._lock:
            self._recovery_periods.pop(_table_key(context, table_name), None)
        return response
