"""What an operator deploys: a supported runtime on arm64, code built for it, tracing, and
billing functions whose concurrency is their own: a scheduled dispatcher whose failures are
kept, and queue workers bounded by their event source."""

import io
import json
import zipfile

import pytest

from tests.infra.packaged import LAMBDA_MACHINES, compiled_code

RUNTIME, ARCHITECTURE = "python3.13", "arm64"
DISPATCHER, WORKER = "app.bill_active_sessions", "app.bill_shards"


def test_every_function_runs_python313_on_arm64_with_active_tracing(template):
    for name, function in template.functions.items():
        properties = function["Properties"]
        assert properties["Runtime"] == RUNTIME, name
        assert properties["Architectures"] == [ARCHITECTURE], name
        assert properties["Tracing"] == "Active", name
        statements = template.statements(name)
        assert any("xray:PutTraceSegments" in s["Action"] for s in statements), name


def test_the_deployment_zip_holds_no_code_built_for_another_architecture(template):
    found = compiled_code(template.path.with_name("deployment.zip"))
    foreign = {name: machine for name, machine in found.items() if machine != LAMBDA_MACHINES[ARCHITECTURE]}
    assert foreign == {}


def zip_of(files: dict) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def elf_header(machine: int) -> bytes:
    return b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(44)


@pytest.mark.parametrize(
    "files, expected",
    [
        ({"pkg/_speedups.cpython-313-x86_64-linux-gnu.so": elf_header(62)}, {"x86_64"}),
        ({"pkg/_speedups.so": elf_header(183)}, {"aarch64"}),
        ({"x-1.0.dist-info/WHEEL": "Tag: cp313-cp313-manylinux_2_17_x86_64\n"}, {"x86_64"}),
        ({"x-1.0.dist-info/WHEEL": "Tag: py3-none-any\n", "x/__init__.py": "x = 1\n"}, set()),
        ({"x/_c.pyd": b"MZ"}, {"not linux"}),
    ],
)
def test_the_zip_inspection_names_each_compiled_files_architecture(tmp_path, files, expected):
    path = tmp_path / "deployment.zip"
    path.write_bytes(zip_of(files).getvalue())
    assert set(compiled_code(path).values()) == expected


def test_billing_has_its_own_concurrency_and_keeps_its_failed_runs(template):
    name = template.function_by_handler(DISPATCHER)
    billing = template.functions[name]["Properties"]
    # Two: a run that overruns its minute may overlap the next one, never more.
    assert billing["ReservedConcurrentExecutions"] == 2
    # A failed run is not retried into the next minute's (which bills the same sessions):
    # its event goes to the dead-letter queue for a reader of the runbook.
    assert billing["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    queue = billing["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0]
    assert billing["DeadLetterQueue"]["Type"] == "SQS"
    assert template.resources[queue]["Type"] == "AWS::SQS::Queue"
    assert template.resources[queue]["Properties"]["KmsMasterKeyId"]
    sends = [s for s in template.statements(name) if "sqs:SendMessage" in s["Action"]]
    assert {"Fn::GetAtt": [queue, "Arn"]} in [s["Resource"] for s in sends]
    # The workers' reservation is their event source's bound, one parameter for both: the
    # API cannot take their share, and a reservation below the bound would throttle
    # invocations, which count as receives and push good messages to the dead-letter queue.
    worker = template.functions[template.function_by_handler(WORKER)]["Properties"]
    [event] = worker["Events"].values()
    bound = event["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert bound == {"Ref": "BillingWorkerConcurrency"}
    assert worker["ReservedConcurrentExecutions"] == bound


def test_a_billing_worker_has_one_full_vcpu(template):
    # 1769 MB: Lambda's one vCPU; a worker's shards are billed by CPU-bound threads.
    worker = template.functions[template.function_by_handler(WORKER)]["Properties"]
    assert worker["MemorySize"] >= 1769


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(template):
    [topic] = template.of_type("AWS::SNS::Topic").values()
    key = topic["Properties"]["KmsMasterKeyId"]
    # Not the aws/sns managed key: its policy does not let CloudWatch publish, so alarms
    # would stop reaching anyone without an error anywhere.
    assert key == {"Ref": "MonitoringKey"}
    policy = template.resources["MonitoringKey"]["Properties"]["KeyPolicy"]["Statement"]
    cloudwatch = [s for s in policy if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])
    assert template.resources["MonitoringKey"]["Properties"]["EnableKeyRotation"] is True


def test_the_api_is_traced_and_access_logged_to_a_group_with_retention(template):
    api = template.api
    assert api["TracingEnabled"] is True
    group = api["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    properties = template.resources[group]["Properties"]
    assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert properties["KmsKeyId"] == {"Fn::GetAtt": ["MonitoringKey", "Arn"]}
    fields = json.loads(api["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "route", "latencyMs"} <= set(fields)
    assert fields["requestId"] == "$context.requestId"


def test_a_throttled_caller_is_told_when_to_retry(template):
    throttled = template.api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]["THROTTLED"]
    assert throttled["statusCode"] == "429"
    retry_after = throttled["responseParameters"]["gatewayresponse.header.Retry-After"]
    assert retry_after.strip("'").isdigit()


def test_a_wrong_method_is_answered_405_by_the_gateway_as_locally(template):
    for path, methods, catch_all in template.wrong_method_answers():
        integration = catch_all["x-amazon-apigateway-integration"]
        assert integration["type"] == "mock", path
        assert "security" not in catch_all, path  # answered before any authorizer, as locally
        response = integration["responses"]["default"]
        assert response["statusCode"] == "405", path
        allow = response["responseParameters"]["method.response.header.Allow"].strip("'")
        assert sorted(allow.split(", ")) == sorted(m.upper() for m in methods), path
        body = json.loads(response["responseTemplates"]["application/json"])
        assert body["error"] == "method_not_allowed", path
        assert json.loads(integration["requestTemplates"]["application/json"]) == {"statusCode": 405}
