"""report_app.secrets against the moto server: *_ARN → the plain variables, once, with one-line errors."""

import base64
import hashlib
import hmac
import json
import logging
import uuid

import boto3
import pytest

from report_app import lambda_handler
from report_app.secrets import SecretResolutionError, reset_secrets, resolve_secrets

ARN_VARIABLES = ("LINE_CHANNEL_SECRET_ARN", "LINE_CHANNEL_ACCESS_TOKEN_ARN", "OPENAI_API_KEY_ARN")


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for name in ARN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    reset_secrets()
    yield
    reset_secrets()


@pytest.fixture
def secretsmanager(moto_server):
    return boto3.client("secretsmanager", region_name="us-east-1")


def _secret(client, value: str | None) -> str:
    """A new secret's ARN; `value` None: created without a value, as Terraform leaves it."""
    arn = client.create_secret(Name=f"tickerlake/test-{uuid.uuid4().hex[:8]}")["ARN"]
    if value is not None:
        client.put_secret_value(SecretId=arn, SecretString=value)
    return arn


def test_line_and_openai_values_are_read_from_secrets_manager(secretsmanager):
    env = {
        "LINE_CHANNEL_SECRET_ARN": _secret(secretsmanager, "line-secret"),
        "LINE_CHANNEL_ACCESS_TOKEN_ARN": _secret(secretsmanager, "line-token\n"),
        "OPENAI_API_KEY_ARN": _secret(secretsmanager, "sk-test"),
    }
    sources = resolve_secrets(environ=env)
    assert sources == dict.fromkeys(
        ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "OPENAI_API_KEY"), "secretsmanager"
    )
    # the newline a `--secret-string file://token.txt` keeps is not part of the token
    assert (env["LINE_CHANNEL_SECRET"], env["LINE_CHANNEL_ACCESS_TOKEN"], env["OPENAI_API_KEY"]) == (
        "line-secret",
        "line-token",
        "sk-test",
    )


def test_an_ssm_securestring_parameter_arn_is_read_with_decryption(moto_server):
    ssm = boto3.client("ssm", region_name="us-east-1")
    name = f"/tickerlake/test-{uuid.uuid4().hex[:8]}"
    ssm.put_parameter(Name=name, Value="from-ssm", Type="SecureString")
    arn = ssm.get_parameter(Name=name)["Parameter"]["ARN"]
    env = {"OPENAI_API_KEY_ARN": arn}
    assert resolve_secrets(["OPENAI_API_KEY"], environ=env) == {"OPENAI_API_KEY": "ssm"}
    assert env["OPENAI_API_KEY"] == "from-ssm"


def test_each_secret_is_fetched_once_for_the_life_of_the_process(secretsmanager):
    arn = _secret(secretsmanager, "line-secret")
    env = {"LINE_CHANNEL_SECRET_ARN": arn}
    assert resolve_secrets(["LINE_CHANNEL_SECRET"], environ=env) == {"LINE_CHANNEL_SECRET": "secretsmanager"}
    # gone from AWS: a second fetch would fail, so a second call that succeeds did not fetch
    secretsmanager.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert resolve_secrets(["LINE_CHANNEL_SECRET"], environ=env) == {"LINE_CHANNEL_SECRET": "cached"}
    assert env["LINE_CHANNEL_SECRET"] == "line-secret"


def test_a_secret_without_a_value_is_a_one_line_error_naming_the_variable_and_the_arn(secretsmanager):
    arn = _secret(secretsmanager, None)  # Terraform created it; nobody ran put-secret-value yet
    env = {"LINE_CHANNEL_ACCESS_TOKEN_ARN": arn}
    with pytest.raises(SecretResolutionError) as raised:
        resolve_secrets(environ=env)
    message = str(raised.value)
    assert "\n" not in message
    assert f"LINE_CHANNEL_ACCESS_TOKEN_ARN={arn}" in message
    assert "ResourceNotFoundException" in message
    assert "LINE_CHANNEL_ACCESS_TOKEN" not in env


def test_a_secret_that_does_not_exist_is_a_one_line_error(secretsmanager):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tickerlake/nowhere-AbCdEf"
    with pytest.raises(
        SecretResolutionError, match=r"LINE_CHANNEL_SECRET_ARN=arn:aws:secretsmanager:.*nowhere"
    ):
        resolve_secrets(environ={"LINE_CHANNEL_SECRET_ARN": arn})


def test_an_empty_secret_value_is_refused(secretsmanager):
    env = {"OPENAI_API_KEY_ARN": _secret(secretsmanager, "  \n")}
    with pytest.raises(SecretResolutionError, match="OPENAI_API_KEY_ARN=.*the value is empty"):
        resolve_secrets(environ=env)
    assert "OPENAI_API_KEY" not in env


@pytest.mark.parametrize(
    "arn",
    [
        "tickerlake/line-secret",
        "arn:aws:s3:::bucket/key",
        "arn:aws:secretsmanager:us-east-1:123456789012:parameter/x",
        "arn:aws:ssm:us-east-1:12345:parameter/x",
    ],
)
def test_a_malformed_arn_is_refused_before_any_call(arn):
    with pytest.raises(SecretResolutionError) as raised:
        resolve_secrets(environ={"LINE_CHANNEL_SECRET_ARN": arn}, client_factory=_no_client)
    assert str(raised.value).startswith(
        f"LINE_CHANNEL_SECRET_ARN={arn!r} is not a Secrets Manager secret ARN"
    )


def _no_client(service, region):
    raise AssertionError(f"no {service} client may be made")


def test_a_plain_variable_wins_over_its_arn_without_any_call(caplog):
    env = {
        "LINE_CHANNEL_SECRET": "local-secret",
        "LINE_CHANNEL_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf",
        "LINE_CHANNEL_ACCESS_TOKEN": "local-token",
    }
    with caplog.at_level(logging.WARNING, logger="tickerlake.report_app.secrets"):
        sources = resolve_secrets(environ=env, client_factory=_no_client)
    assert sources == {
        "LINE_CHANNEL_SECRET": "environment",
        "LINE_CHANNEL_ACCESS_TOKEN": "environment",
        "OPENAI_API_KEY": "unset",
    }
    assert env["LINE_CHANNEL_SECRET"] == "local-secret"
    [warning] = caplog.records
    assert (warning.variable, warning.arn_variable, warning.arn) == (
        "LINE_CHANNEL_SECRET",
        "LINE_CHANNEL_SECRET_ARN",
        env["LINE_CHANNEL_SECRET_ARN"],
    )


def test_nothing_set_is_left_to_the_app_to_refuse():
    env: dict[str, str] = {}
    assert set(resolve_secrets(environ=env, client_factory=_no_client).values()) == {"unset"}
    assert env == {}


# --- the Lambda handler's cold path ------------------------------------------------------------------------


def _signed_event(body: bytes, secret: str) -> dict:
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "version": "2.0",
        "rawPath": "/callback",
        "requestContext": {"http": {"method": "POST"}},
        "headers": {"x-line-signature": signature, "content-type": "application/json"},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


@pytest.fixture
def cold_lambda():
    lambda_handler.reset_app(None)
    yield lambda_handler
    lambda_handler.reset_app(None)


def test_lambda_cold_start_verifies_webhooks_with_the_secret_from_secrets_manager(
    secretsmanager, monkeypatch, cold_lambda
):
    monkeypatch.setenv("LINE_CHANNEL_SECRET_ARN", _secret(secretsmanager, "secret-in-aws"))
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN_ARN", _secret(secretsmanager, "token-in-aws"))
    body = json.dumps({"destination": "U0", "events": []}).encode()
    assert cold_lambda.handler(_signed_event(body, "secret-in-aws"), None)["statusCode"] == 200
    assert cold_lambda.handler(_signed_event(body, "another-secret"), None)["statusCode"] == 401


def test_lambda_with_an_unreadable_secret_answers_500_and_logs_the_arn(
    secretsmanager, monkeypatch, caplog, cold_lambda
):
    token_arn = _secret(secretsmanager, None)
    monkeypatch.setenv("LINE_CHANNEL_SECRET_ARN", _secret(secretsmanager, "secret-in-aws"))
    monkeypatch.setenv("LINE_CHANNEL_ACCESS_TOKEN_ARN", token_arn)
    body = json.dumps({"destination": "U0", "events": []}).encode()
    with caplog.at_level(logging.ERROR, logger="tickerlake.report_app.lambda_handler"):
        response = cold_lambda.handler(_signed_event(body, "secret-in-aws"), None)
    assert response["statusCode"] == 500 and response["body"] == "bot not configured"
    assert f"LINE_CHANNEL_ACCESS_TOKEN_ARN={token_arn}" in caplog.text
    # the operator sets the value: the next invocation builds the app
    secretsmanager.put_secret_value(SecretId=token_arn, SecretString="token-in-aws")
    assert cold_lambda.handler(_signed_event(body, "secret-in-aws"), None)["statusCode"] == 200
