"""
A real S3-compatible server for tests and benchmarks: moto's server mode, in its own process, on loopback.

The server runs in a subprocess, so its memory (it holds every object) never counts in the
measurements of the process under test. Requests go over HTTP as they would to S3; the amazon
provider reads through an Airflow AWS connection whose ``endpoint_url`` points here.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.local_servers import free_port, stop_process

ACCESS_KEY = "AKIASEEKRFLOWTEST01"
SECRET_KEY = "moto-secret-0b3c9e7d"  # a test value: moto accepts any key until auth is enforced
REGION = "us-east-1"

# Environment that would let boto3 find credentials or endpoints other than the connection's.
AMBIENT_AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CA_BUNDLE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def isolated_aws_environment(home: Path) -> dict[str, str]:
    """
    Return environment changes that leave boto3 no credentials but an Airflow connection's.

    No ambient keys, no shared credentials or config file, no instance metadata lookups.

    :param home: A folder for the (absent) shared credentials and config files.
    """
    return {
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def aws_connection(
    endpoint_url: str, *, login: str | None = ACCESS_KEY, password: str | None = SECRET_KEY
) -> str:
    """Return an ``AIRFLOW_CONN_*`` value (JSON) of an AWS connection to the moto server."""
    payload: dict[str, Any] = {
        "conn_type": "aws",
        "extra": {"endpoint_url": endpoint_url, "region_name": REGION},
    }
    if login is not None:
        payload["login"] = login
    if password is not None:
        payload["password"] = password
    return json.dumps(payload)


class MotoS3:
    """
    moto's S3 server in a subprocess on ``127.0.0.1``; :meth:`start` waits until it answers.

    :param record: Whether the server may record requests (:meth:`recording`).
    """

    def __init__(self, *, record: bool = False) -> None:
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._folder = Path(tempfile.mkdtemp(prefix="seekrflow-moto-"))
        self._recording = self._folder / "recording.jsonl"
        self._record = record
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> MotoS3:
        """Start the server and wait until it answers."""
        env = {k: v for k, v in os.environ.items() if k not in AMBIENT_AWS_VARIABLES}
        env["MOTO_RECORDER_FILEPATH"] = str(self._recording)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=open(self._folder / "server.log", "wb"),  # noqa: SIM115 - the child keeps it
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited: {(self._folder / 'server.log').read_text()[-2000:]}")
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{self.endpoint_url}/moto-api/", timeout=2)
                return self
            time.sleep(0.2)
        raise RuntimeError(f"moto server did not answer within {timeout} s")

    def stop(self) -> None:
        """Stop the server."""
        stop_process(self._process)

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self._process is not None
        return self._process.pid

    def client(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY) -> Any:
        """Return a boto3 S3 client of this server (for setting up buckets and objects)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
        )

    def create_bucket(self, name: str) -> None:
        """Create a bucket (an existing one is kept)."""
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)

    def put(self, bucket: str, key: str, body: bytes) -> None:
        """Store an object."""
        self.client().put_object(Bucket=bucket, Key=key, Body=body)

    def put_large(self, bucket: str, key: str, size: int, *, part_bytes: int = 64 * 1024 * 1024) -> None:
        """Store an object of ``size`` bytes of a repeating pattern, by multipart upload in bounded memory."""
        client = self.client()
        pattern = bytes(range(256)) * (part_bytes // 256)
        upload = client.create_multipart_upload(Bucket=bucket, Key=key)
        parts = []
        sent = 0
        number = 1
        while sent < size:
            body = pattern[: min(part_bytes, size - sent)]
            answer = client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=body
            )
            parts.append({"ETag": answer["ETag"], "PartNumber": number})
            sent += len(body)
            number += 1
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
        )

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[dict[str, Any]]]:
        """
        Record the requests the server receives inside the block into the list yielded (filled on exit).

        Each entry has ``method`` and ``url``; bodies are dropped.
        """
        if not self._record:
            raise RuntimeError("start the server with MotoS3(record=True) to record requests")
        api = f"{self.endpoint_url}/moto-api/recorder"
        requests.post(f"{api}/reset-recording", timeout=10).raise_for_status()
        requests.post(f"{api}/start-recording", timeout=10).raise_for_status()
        seen: list[dict[str, Any]] = []
        try:
            yield seen
        finally:
            requests.post(f"{api}/stop-recording", timeout=10).raise_for_status()
            text = requests.get(f"{api}/download-recording", timeout=30).text
            for line in text.splitlines():
                if line.strip():
                    entry = json.loads(line)
                    seen.append({"method": entry["method"], "url": entry["url"]})


def s3_requests(seen: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, list[str]]]]:
    """
    Return the S3 requests among those moto recorded, as ``(method, path, query)``; moto's own API left out.

    :param seen: What :meth:`MotoS3.recording` yielded.
    """
    out = []
    for entry in seen:
        parts = urlsplit(entry["url"])
        if parts.path.startswith("/moto-api"):
            continue
        out.append((entry["method"], parts.path, parse_qs(parts.query)))
    return out


def object_gets(seen: list[dict[str, Any]], bucket: str) -> list[str]:
    """
    Return the keys downloaded (GetObject: a GET on ``/<bucket>/<key>`` that is no listing), in order.

    :param seen: What :meth:`MotoS3.recording` yielded.
    :param bucket: The bucket whose objects count.
    """
    keys = []
    for method, path, query in s3_requests(seen):
        bucket_part, _, key = path.lstrip("/").partition("/")
        if method == "GET" and bucket_part == bucket and key and not {"list-type", "prefix"} & set(query):
            keys.append(key)
    return keys
