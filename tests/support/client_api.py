"""Calling a deployed stack as a client application (its API key) in the integration tests."""

import requests

# A correction of a prediction; its model version names no model (tests that need one that
# served set their own).
FEEDBACK = {
    "text": "Shares of the chip maker rose after quarterly profit beat forecasts.",
    "model_type": "DOCUMENT_CLASSIFIER",
    "mode": "MULTI_CLASS",
    "model_version": "never-served-1",
    "prediction": {
        "labels": [{"label": "SciTech", "score": 0.55}, {"label": "Business", "score": 0.45}],
        "routed_to_review": False,
    },
    "reason": "dislike",
    "corrected_labels": ["Business"],
    "submitter": {"user_id": "analyst-7"},
}


def post(stack, path, body, key=None):
    headers = {} if key is None else {"x-api-key": key}
    return requests.post(f"{stack['api_url']}{path}", json=body, headers=headers, timeout=120)


def lake_objects(aws_client, bucket, prefix):
    s3 = aws_client("s3")
    return [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]
