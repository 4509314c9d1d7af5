"""AWS ECR registries created without `url` (contract fixes of issue 19).

The ECR API cannot be reached from here, so `serve --ecr-api-endpoint` points at a fake on
127.0.0.1 that answers in ECR's own JSON format (`GetAuthorizationToken`,
`DescribeRepositories`, SigV4-signed requests) and whose `proxyEndpoint` names a real CNCF
distribution registry on 127.0.0.1, served over https with htpasswd credentials that only the
ECR authorization token carries (user `AWS`, as ECR's registries expect).
"""
import base64
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port, wait_job
from registry_harness import Registry

ACCOUNT = "123456789012"
REGION = "eu-west-1"
TOKEN_PASSWORD = "ecr-token-" + "x" * 24
CREDENTIALS = {"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
               "region": REGION}


class FakeECR:
    """The two ECR API actions harborguard calls, answered as AWS does."""

    def __init__(self, proxy_endpoint, repositories):
        self.proxy_endpoint = proxy_endpoint
        self.repositories = repositories
        self.calls = []
        self.down = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                target = self.headers.get("X-Amz-Target", "")
                auth = self.headers.get("Authorization", "")
                fake.calls.append((target, auth))
                if fake.down:
                    return self.answer(503, {"__type": "ServiceUnavailableException", "message": "try later"})
                # A SigV4 signature for the ECR service of the credentials' key and region.
                signed = auth.startswith(f"AWS4-HMAC-SHA256 Credential={CREDENTIALS['accessKeyId']}/") and \
                    f"/{REGION}/ecr/aws4_request" in auth and "Signature=" in auth
                if not signed or self.headers.get("Content-Type") != "application/x-amz-json-1.1":
                    return self.answer(400, {"__type": "UnrecognizedClientException", "message": "bad signature"})
                if target == "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken":
                    token = base64.b64encode(f"AWS:{TOKEN_PASSWORD}".encode()).decode()
                    return self.answer(200, {"authorizationData": [{
                        "authorizationToken": token, "expiresAt": time.time() + 12 * 3600,
                        "proxyEndpoint": fake.proxy_endpoint}]})
                if target == "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories":
                    json.loads(body or b"{}")
                    return self.answer(200, {"repositories": [{
                        "repositoryArn": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}",
                        "registryId": ACCOUNT, "repositoryName": name,
                        "repositoryUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}",
                        "createdAt": 1700000000.0, "imageTagMutability": "MUTABLE"} for name in fake.repositories]})
                self.answer(400, {"__type": "UnknownOperationException"})

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def ecr(tmp_path, monkeypatch):
    """A TLS registry with two pushed images and the fake ECR API naming it."""
    cert, key = str(tmp_path / "registry.crt"), str(tmp_path / "registry.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
    registry = Registry(user="AWS", password=TOKEN_PASSWORD, tls=(cert, key))
    registry.push("team/app", "v1")
    registry.push("team/api", "v2")
    fake = FakeECR(registry.url, ["team/app", "team/api"])
    yield registry, fake
    fake.stop()
    registry.stop()


def test_ecr_registry_without_url_answers_its_endpoint_and_syncs(ecr, data_dir, server_factory):
    registry, fake = ecr
    s = server_factory(data_dir, extra=("--ecr-api-endpoint", fake.url))
    r = s.api("POST", "/api/registries", json={
        "name": "ecr", "provider": "AWS_ECR", "credentials": CREDENTIALS, "insecure": True, "schedule": "manual"})
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    # The endpoint the crawler uses: ECR's proxyEndpoint for the credentials' account and region.
    assert created["url"] == registry.url
    assert s.api("GET", f"/api/registries/{created['id']}").json()["data"]["url"] == registry.url
    listed = s.api("GET", "/api/registries").json()["data"]
    assert [x["url"] for x in listed if x["id"] == created["id"]] == [registry.url]

    r = s.api("POST", f"/api/registries/{created['id']}/sync")
    assert r.status_code == 202, r.text
    job = wait_job(s, r.json()["data"]["jobId"])
    assert job["status"] == "succeeded", job
    images = s.api("GET", f"/api/images?registryId={created['id']}&sort=name:asc").json()["data"]
    assert sorted(i["repository"] if "repository" in i else i["name"] for i in images) == ["team/api", "team/app"]
    health = s.api("GET", f"/api/registries/{created['id']}").json()["data"]["health"]
    assert health["status"] == "healthy", health
    targets = {t for t, _ in fake.calls}
    assert targets == {"AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
                       "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories"}


def test_ecr_endpoint_not_derivable_at_creation_is_derived_at_the_first_sync(ecr, data_dir, server_factory):
    registry, fake = ecr
    s = server_factory(data_dir, extra=("--ecr-api-endpoint", fake.url))
    fake.down = True  # ECR answers 503: the registry is created all the same, without url yet
    r = s.api("POST", "/api/registries", json={
        "name": "ecr", "provider": "AWS_ECR", "credentials": CREDENTIALS, "insecure": True, "schedule": "manual"})
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    assert created["url"] is None
    fake.down = False
    r = s.api("POST", f"/api/registries/{created['id']}/sync")
    job = wait_job(s, r.json()["data"]["jobId"])
    assert job["status"] == "succeeded", job
    assert s.api("GET", f"/api/registries/{created['id']}").json()["data"]["url"] == registry.url
    assert s.api("GET", f"/api/images?registryId={created['id']}").json()["meta"]["total"] == 2


def test_test_connection_accepts_ecr_without_url_like_create(ecr, data_dir, server_factory):
    registry, fake = ecr
    s = server_factory(data_dir, extra=("--ecr-api-endpoint", fake.url))
    body = {"provider": "AWS_ECR", "credentials": CREDENTIALS, "insecure": True}
    r = s.api("POST", "/api/registries/test-connection", json=body)
    assert r.status_code == 200, r.text
    result = r.json()["data"]
    assert result["ok"] is True and result["status"] == "ok", result
    assert result["authScheme"] == "basic"
    assert sorted(result["repositories"]) == ["team/api", "team/app"]
    # Credentials ECR refuses: an answer (auth_failed), not a 400.
    r = s.api("POST", "/api/registries/test-connection",
              json=dict(body, credentials=dict(CREDENTIALS, accessKeyId="AKIAOTHERKEY0000000")))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "auth_failed"
    # Create and test-connection take the same body.
    r = s.api("POST", "/api/registries", json=dict(body, name="ecr"))
    assert r.status_code == 201, r.text
    r = s.api("POST", "/api/registries/test-connection", json={"registryId": r.json()["data"]["id"]})
    assert r.json()["data"]["status"] == "ok", r.text


def test_ecr_api_endpoint_flag_is_validated(tmp_path):
    from conftest import BIN
    p = subprocess.run([BIN, "serve", "--data-dir", str(tmp_path / "d"), "--ecr-api-endpoint", "not a url"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 64, (p.returncode, p.stderr)
    assert "--ecr-api-endpoint" in p.stderr
