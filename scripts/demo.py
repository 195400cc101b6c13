"""`make demo`: shows the stack that `make deploy-local` put on LocalStack answering.

It calls the REST API without and with the API key, runs the iteration state machine, and
prints what landed in the data lake, each step with the command a user could type instead.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import boto3
import requests

from textloop_ops import localstack
from textloop_ops.terraform import local_stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path(".localstack"))
    args = parser.parse_args()

    endpoint = localstack.endpoint(args.state_dir)
    outputs = local_stack(args.state_dir).outputs()
    api, key = outputs["api_url"], outputs["api_key"]

    print(f"LocalStack on the host: {endpoint}")
    print(f"REST API: {api}\n")

    response = requests.get(f"{api}health", timeout=60)
    print(f"$ curl -s -o /dev/null -w '%{{http_code}}' {api}health\n{response.status_code}")
    response = requests.get(f"{api}health", headers={"x-api-key": key}, timeout=60)
    print(f"$ curl -s -H 'x-api-key: <api_key>' {api}health")
    print(f"{response.status_code} {response.text}")
    print("  (the key: terraform -chdir=terraform/envs/local output -raw api_key)\n")

    def client(service):
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",  # noqa: S106 - LocalStack's fixed local account
        )

    sfn = client("stepfunctions")
    name = f"demo-{int(time.time())}"
    execution = sfn.start_execution(stateMachineArn=outputs["state_machine_arn"], name=name)
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))[
        "status"
    ] == "RUNNING":
        time.sleep(0.5)
    print(f"state machine execution {name}: {described['status']}")
    if described["status"] != "SUCCEEDED":
        print(json.dumps(described, default=str, indent=2), file=sys.stderr)
        return 1
    health = json.loads(described["output"])["health"]
    s3 = client("s3")
    obj = s3.get_object(Bucket=outputs["data_lake_bucket"], Key=health["heartbeat_key"])
    print(f"s3://{outputs['data_lake_bucket']}/{health['heartbeat_key']}:")
    print(f"  {obj['Body'].read().decode()}")
    print("\nStop LocalStack with `make localstack-down`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
