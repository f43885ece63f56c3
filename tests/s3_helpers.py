"""An S3-compatible server for the tests: moto's server mode on 127.0.0.1, with credentials enforced.

The fixture starts the server in a thread, creates an IAM user with an access key allowed s3:*, then
turns on moto's authentication (every later request must be signed with a key it knows), and
exports that key and the endpoint through the usual AWS environment variables, so that s3fs, the
process pool's workers and Dask workers started afterwards all find them as a user's would.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class S3:
    endpoint: str
    key: str
    secret: str
    client: Any  # a boto3 S3 client with the good key

    def upload(self, bucket: str, prefix: str, files: dict[str, bytes]) -> None:
        for rel, data in files.items():
            self.client.put_object(Bucket=bucket, Key=f"{prefix}/{rel}", Body=data)

    def upload_dir(self, bucket: str, prefix: str, root: Path) -> None:
        self.upload(bucket, prefix, {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()})

    def objects(self, bucket: str) -> dict[str, str]:
        """Key -> ETag of every object in ``bucket`` (what "never written" is checked against)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {o["Key"]: o["ETag"] for page in pages for o in page.get("Contents", [])}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    boto3 = pytest.importorskip("boto3")
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.moto_api._internal.models import moto_api_backend
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_api_backend.reset()  # moto's state lives in this process: each module starts from an empty account
    _forget_filesystems()
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            mp.delenv(name, raising=False)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_ACCESS_KEY_ID", "bootstrap")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "bootstrap")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        previous = settings.INITIAL_NO_AUTH_ACTION_COUNT
        try:
            iam = boto3.session.Session().client("iam", endpoint_url=endpoint)
            iam.create_user(UserName="auditor")
            key = iam.create_access_key(UserName="auditor")["AccessKey"]
            iam.put_user_policy(UserName="auditor", PolicyName="s3", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
            settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is authenticated
            ActionAuthenticatorMixin.request_count = 0
            mp.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
            mp.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
            mp.setenv("AWS_ENDPOINT_URL", endpoint)
            client = boto3.session.Session().client("s3", endpoint_url=endpoint)
            yield S3(endpoint, key["AccessKeyId"], key["SecretAccessKey"], client)
        finally:
            settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
            server.stop()
            moto_api_backend.reset()
            _forget_filesystems()


def _forget_filesystems() -> None:
    """fsspec keeps one S3FileSystem per set of options: drop it, its endpoint and key belong to one server."""
    from s3fs import S3FileSystem

    S3FileSystem.clear_instance_cache()
