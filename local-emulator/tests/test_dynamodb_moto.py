"""DynamoDB served by the moto-backed provider (PROVIDER_OVERRIDE_DYNAMODB=moto)."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def ddb(client):
    return client("dynamodb")


@pytest.fixture(scope="module")
def table(ddb):
    name = f"tbl-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "status", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-status",
                "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        SSESpecification={"Enabled": True},
        Tags=[{"Key": "project", "Value": "textloop"}],
    )
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    return name


def test_create_and_describe(ddb, table):
    desc = ddb.describe_table(TableName=table)["Table"]
    assert desc["TableStatus"] == "ACTIVE"
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"] for k in desc["KeySchema"]} == {"pk", "sk"}
    assert desc["GlobalSecondaryIndexes"][0]["IndexName"] == "by-status"
    assert desc["SSEDescription"]["Status"] == "ENABLED"
    assert table in ddb.list_tables()["TableNames"]
    tags = ddb.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"]
    assert {"Key": "project", "Value": "textloop"} in tags


def test_conditional_put_fails_with_conditional_check_failed(ddb, table):
    item = {"pk": {"S": "event#1"}, "sk": {"S": "v1"}, "status": {"S": "new"}}
    ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException) as err:
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    assert err.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_get_update_delete(ddb, table):
    key = {"pk": {"S": "doc#7"}, "sk": {"S": "meta"}}
    ddb.put_item(TableName=table, Item={**key, "status": {"S": "new"}, "n": {"N": "1"}})
    updated = ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #s = :s ADD n :one",
        ConditionExpression="#s = :old",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "done"}, ":one": {"N": "1"}, ":old": {"S": "new"}},
        ReturnValues="ALL_NEW",
    )["Attributes"]
    assert updated["status"] == {"S": "done"} and updated["n"] == {"N": "2"}
    got = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": "2"}
    ddb.delete_item(TableName=table, Key=key)
    assert "Item" not in ddb.get_item(TableName=table, Key=key)


def test_query_scan_batch_and_gsi(ddb, table):
    ddb.batch_write_item(
        RequestItems={
            table: [
                {
                    "PutRequest": {
                        "Item": {
                            "pk": {"S": "run#1"},
                            "sk": {"S": f"item#{i}"},
                            "status": {"S": "queued" if i % 2 else "labelled"},
                        }
                    }
                }
                for i in range(6)
            ]
        }
    )
    page = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
        ExpressionAttributeValues={":p": {"S": "run#1"}, ":s": {"S": "item#"}},
    )
    assert page["Count"] == 6
    queued = ddb.query(
        TableName=table,
        IndexName="by-status",
        KeyConditionExpression="#s = :q",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":q": {"S": "queued"}},
    )
    assert queued["Count"] == 3
    scanned = ddb.scan(
        TableName=table,
        FilterExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "run#1"}},
    )
    assert scanned["Count"] == 6


def test_transact_write_cancels_on_failed_condition(ddb, table):
    key = {"pk": {"S": "tx#1"}, "sk": {"S": "a"}}
    ddb.put_item(TableName=table, Item={**key, "status": {"S": "locked"}})
    with pytest.raises(ClientError) as err:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": "tx#1"}, "sk": {"S": "b"}, "status": {"S": "x"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": key,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert err.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "tx#1"}, "sk": {"S": "b"}})


def test_ttl_and_continuous_backups(ddb, table):
    assert (
        ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"]
        == "DISABLED"
    )
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
    )
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}

    backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["ContinuousBackupsStatus"] == "ENABLED"
    pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
    assert pitr == "DISABLED"
    ddb.update_continuous_backups(
        TableName=table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )
    backups = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert backups["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 35  # AWS default


def test_delete_table(ddb):
    name = f"tbl-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    ddb.delete_table(TableName=name)
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.describe_table(TableName=name)


def test_terraform_table_calls(ddb, client):
    """The calls `terraform apply` of aws_dynamodb_table makes, with SSE (KMS), TTL and PITR.

    Create, then the waiters it polls (table ACTIVE, warm throughput ACTIVE, TTL and PITR
    ENABLED, SSE ENABLED), then the reads of its refresh (DescribeTable,
    DescribeContinuousBackups, DescribeTimeToLive, ListTagsOfResource).
    """
    key_arn = client("kms").create_key()["KeyMetadata"]["Arn"]
    name = f"tf-{uuid.uuid4().hex[:8]}"
    created = ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn},
        Tags=[{"Key": "Name", "Value": name}],
        DeletionProtectionEnabled=False,
    )["TableDescription"]
    table = ddb.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["WarmThroughput"]["Status"] == "ACTIVE"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table["SSEDescription"]["KMSMasterKeyArn"] == key_arn

    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    ddb.update_continuous_backups(
        TableName=name,
        PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True,
            "RecoveryPeriodInDays": 7,
        },
    )
    assert (
        ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["TimeToLiveStatus"]
        == "ENABLED"
    )
    pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    # moto alone drops the period; Terraform would then show a diff on every plan.
    assert pitr["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 7
    tags = ddb.list_tags_of_resource(ResourceArn=created["TableArn"])["Tags"]
    assert tags == [{"Key": "Name", "Value": name}]

    ddb.tag_resource(ResourceArn=created["TableArn"], Tags=[{"Key": "env", "Value": "dev"}])
    ddb.untag_resource(ResourceArn=created["TableArn"], TagKeys=["Name"])
    tags = ddb.list_tags_of_resource(ResourceArn=created["TableArn"])["Tags"]
    assert tags == [{"Key": "env", "Value": "dev"}]
    ddb.delete_table(TableName=name)
