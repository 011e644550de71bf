"""The packaged template: `chalice package` as `make package` runs it, and readers for it.

Packaging builds a ~18 MB zip, so conftest.py packages each stage once per test session.
It runs with no AWS credentials at all: the package step must never need them.
"""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

PROJECT = Path(__file__).resolve().parents[2]
MERGE_TEMPLATE = "infra/resources.json"
OUT = PROJECT / "build" / "infra-tests"
DEPLOYED_STAGES = ("dev", "prod")
# API Gateway's catch-all for the methods a path does not define (answered 405 by a mock)
ANY_METHOD = "x-amazon-apigateway-any-method"
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def package(stage: str) -> Path:
    out = OUT / stage
    for stale in ("sam.json", "deployment.zip"):
        (out / stale).unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    env.update(
        AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice), "package", "--stage", stage, "--merge-template", MERGE_TEMPLATE, str(out)]
    done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return out / "sam.json"


class Template:
    """Read access to one packaged template, in the terms the tests talk about."""

    def __init__(self, path: Path, stage: str):
        self.path = path
        self.stage = stage
        self.data = json.loads(path.read_text())
        self.resources: Dict[str, dict] = self.data["Resources"]
        self.parameters: Dict[str, dict] = self.data.get("Parameters", {})

    def of_type(self, kind: str) -> Dict[str, dict]:
        return {name: r for name, r in self.resources.items() if r["Type"] == kind}

    @property
    def functions(self) -> Dict[str, dict]:
        return self.of_type("AWS::Serverless::Function")

    def function_by_handler(self, handler: str) -> str:
        [name] = [n for n, f in self.functions.items() if f["Properties"]["Handler"] == handler]
        return name

    def statements(self, function: str) -> List[dict]:
        role = self.functions[function]["Properties"]["Role"]["Fn::GetAtt"][0]
        return [
            statement
            for policy in self.resources[role]["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]
        ]

    @property
    def api(self) -> dict:
        [api] = self.of_type("AWS::Serverless::Api").values()
        return api["Properties"]

    def operations(self) -> Iterator[Tuple[str, str, dict]]:
        """(path, method, operation) of every route but CORS preflights and wrong-method answers."""
        for path, methods in self.api["DefinitionBody"]["paths"].items():
            for method, operation in methods.items():
                if method not in ("options", ANY_METHOD):
                    yield path, method, operation

    def wrong_method_answers(self) -> Iterator[Tuple[str, List[str], dict]]:
        """(path, the methods it defines, its catch-all operation) of every path."""
        for path, methods in self.api["DefinitionBody"]["paths"].items():
            yield path, [m for m in methods if m != ANY_METHOD], methods.get(ANY_METHOD, {})

    def preflights(self) -> Iterator[Tuple[str, dict]]:
        for path, methods in self.api["DefinitionBody"]["paths"].items():
            if "options" in methods:
                yield path, methods["options"]

    def method_settings(self) -> Dict[Tuple[str, str], dict]:
        """The API stage's MethodSettings by (path as in the DefinitionBody, METHOD); the
        stage-wide entry is ("/*", "*"). A ResourcePath is "/" then the path with each "/"
        written "~1": "/~1sessions~1{session_id}" is /sessions/{session_id}."""
        settings = {}
        for setting in self.api.get("MethodSettings", []):
            path = setting["ResourcePath"]
            if path != "/*":
                path = path[1:].replace("~1", "/").replace("~0", "~")
            settings[path, setting["HttpMethod"]] = setting
        return settings


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def resource_key(resource) -> str:
    """An IAM Resource of the template as `LogicalId[/index/name]`, or the literal string.

    The policies name the tables through the template (GetAtt / Sub on their ARNs), so a
    key that is not a logical id is a hard-coded ARN or a wildcard."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        return logical_id if attribute == "Arn" else f"{logical_id}.{attribute}"
    if isinstance(resource, dict) and "Fn::Sub" in resource and isinstance(resource["Fn::Sub"], str):
        text = resource["Fn::Sub"]
        if text.startswith("${") and ".Arn}" in text:
            logical_id, rest = text[2:].split(".Arn}", 1)
            return logical_id + rest
        return text
    return resource if isinstance(resource, str) else json.dumps(resource, sort_keys=True)


def grants(statements: List[dict], service: str = "dynamodb:") -> set:
    """(action, resource key) pairs the Allow statements give for one service's actions."""
    pairs = set()
    for statement in statements:
        assert statement.get("Effect") == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        for action in as_list(statement["Action"]):
            if action.startswith(service) or action == "*":
                pairs |= {(action, resource_key(r)) for r in as_list(statement["Resource"])}
    return pairs


# ELF e_machine values (the ELF specification's registry)
ELF_MACHINES = {3: "x86", 40: "arm", 62: "x86_64", 183: "aarch64"}
LAMBDA_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}


def compiled_code(zip_path: Path) -> Dict[str, str]:
    """Every compiled file in a deployment zip and the architecture it was built for: ELF
    shared objects by their header, and wheels by the platform tags their WHEEL file names."""
    found = {}
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            if name.endswith((".dylib", ".pyd", ".dll")):
                found[name] = "not linux"
                continue
            if name.endswith(".dist-info/WHEEL"):
                tags = [
                    line.split(":", 1)[1].strip()
                    for line in archive.read(name).decode().splitlines()
                    if line.startswith("Tag:")
                ]
                platforms = {tag.rsplit("-", 1)[-1] for tag in tags} - {"any"}
                for platform in platforms:
                    found[f"{name} ({platform})"] = next(
                        (m for m in ELF_MACHINES.values() if platform.endswith("_" + m)), platform
                    )
                continue
            with archive.open(name) as member:
                header = member.read(20)
            if header[:4] == b"\x7fELF":
                byte_order = "little" if header[5] == 1 else "big"
                machine = int.from_bytes(header[18:20], byte_order)
                found[name] = ELF_MACHINES.get(machine, f"machine {machine}")
    return found
