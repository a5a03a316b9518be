"""template.yaml: lint (cfn-lint + the custom rules in cfn_rules/, sam validate), build (sam build,
then every handler imported and run from the built layer alone), security scan (checkov), and the
wiring the issue asks for.

The tools come from .tools/ (`make tools`, which `make test` runs first). A missing tool fails
these tests: it never skips them. Nothing here talks to AWS: credentials are dummies and every
AWS endpoint points at a closed local port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from msgworker.cli import template as cfn_template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
RULES = ROOT / "cfn_rules"
TOOLS = ROOT / ".tools"

# Logical ids other tools rely on (msgworker invoke, the demo): renaming one is a breaking change.
FUNCTIONS = {
    "OrdersFunction": "orders.handler",
    "NotificationsFunction": "notifications.handler",
    "HighValueOrdersFunction": "high_value_orders.handler",
    "UploadsFunction": "uploads.handler",
}
# The functions whose circuit breakers may pause their SQS sources (pause_source=True).
PAUSING_FUNCTIONS = ["OrdersFunction", "NotificationsFunction", "HighValueOrdersFunction"]
SOURCE_QUEUES = ["OrdersQueue", "OrdersFifoQueue", "NotificationsQueue", "HighValueOrdersQueue", "UploadsQueue"]

# What each handler answers on each of its sample events (SAM event name -> response).
EXPECTED_RESPONSES: dict[str, dict[str, Any]] = {
    "OrdersFunction": {
        # The fourth order has "total": "lots": reported failed on its own.
        "OrdersQueueEvent": {"batchItemFailures": [{"itemIdentifier": "9289cf31-b9ea-4645-bdbf-cdd781c5fffd"}]},
        "OrdersFifoQueueEvent": {"batchItemFailures": []},
        "OrdersStreamEvent": {"batchItemFailures": []},
        "OrdersTableStreamEvent": {"batchItemFailures": []},
    },
    "NotificationsFunction": {
        "NotificationsQueueEvent": {"batchItemFailures": []},
        "NotificationsTopicEvent": None,  # SNS -> Lambda: success is a plain return
    },
    "HighValueOrdersFunction": {
        "HighValueOrdersQueueEvent": {"batchItemFailures": []},
        "HighValueOrderEvent": None,  # EventBridge -> Lambda
    },
    "UploadsFunction": {
        # An s3:TestEvent (acknowledged without a call) and two object notifications.
        "UploadsQueueEvent": {"batchItemFailures": []},
    },
}


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return cfn_template.load_template(path)


def tool(*parts: str) -> Path:
    path = TOOLS.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run `make tools` (make test does it first)")
    return path


def tool_env(tmp: Path) -> dict[str, str]:
    """The environment for sam / cfn-lint / checkov: no real AWS profile, no way to reach AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MAKE", "MFLAGS"))}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_CONFIG_FILE=str(tmp / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # anything that tries AWS fails at once
        SAM_CLI_TELEMETRY="0",
    )
    return env


def run(cmd: list[str | Path], tmp: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], cwd=ROOT, env=tool_env(tmp), capture_output=True, text=True, timeout=300, **kwargs
    )


def resources(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def ref_id(value: Any) -> str | None:
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return None


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


# ---------------------------------------------------------------------------------------------
# Lint: cfn-lint with the custom rules, sam validate --lint
# ---------------------------------------------------------------------------------------------


def test_cfn_lint_with_msgworker_rules_passes(tmp_path: Path) -> None:
    result = run([tool("sam", "bin", "cfn-lint"), "--append-rules", RULES, "--", TEMPLATE], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# SAM's own translator, run locally as `sam deploy` would have CloudFormation run it (code URIs
# replaced by the S3 locations `sam package` would write). No AWS call: the managed-policy loader
# is a stub, which is fine because the template names no managed policies.
_TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

with open(sys.argv[1]) as f:
    template = yaml_parse(f.read())
for resource in template["Resources"].values():
    props = resource.get("Properties", {})
    for key in ("CodeUri", "ContentUri"):
        if key in props:
            props[key] = "s3://msgworker-artifacts/" + key.lower()
with open(sys.argv[2], "w") as f:
    json.dump(transform(template, {}, NoManagedPolicies()), f, indent=1)
"""


def test_sam_translation_lints_clean_as_plain_cloudformation(tmp_path: Path) -> None:
    transformed = tmp_path / "transformed.json"
    result = run([tool("sam", "bin", "python"), "-c", _TRANSLATE, TEMPLATE, transformed], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # W1020: a Fn::Sub without variables that SAM itself generates for the layer.
    result = run(
        [tool("sam", "bin", "cfn-lint"), "--append-rules", RULES, "--ignore-checks", "W1020", "--", transformed],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes(tmp_path: Path) -> None:
    result = run([tool("sam", "bin", "sam"), "validate", "--lint", "--template", TEMPLATE], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# Custom rules: each fires on a small bad template (all linted in one cfn-lint run)
# ---------------------------------------------------------------------------------------------

_HEADER = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
"""

# A consumer wired the way the rules want; each bad template below breaks one thing.
_GOOD = """\
Globals:
  Function:
    Timeout: 30
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 180
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetterQueue.Arn
        maxReceiveCount: 5
  DeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  Function:
    Type: AWS::Serverless::Function
    Metadata:
      SampleEvents:
        QueueEvent: events/sqs/orders.json
    Properties:
      Runtime: python3.11
      Handler: orders.handler
      CodeUri: handlers/
      Events:
        QueueEvent:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
            FilterCriteria:
              Filters:
                - Pattern: '{"body": {"total": [{"numeric": [">", 0]}]}}'
"""


def _edit(body: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        assert old in body, old
        body = body.replace(old, new)
    return body


_NO_REDRIVE = ("      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt DeadLetterQueue.Arn\n", "")
_FIFO_SOURCE = ("      VisibilityTimeout: 180\n", "      VisibilityTimeout: 180\n      FifoQueue: true\n")
_FIFO_DLQ = (
    "      MessageRetentionPeriod: 1209600\n",
    "      MessageRetentionPeriod: 1209600\n      FifoQueue: true\n",
)
_WINDOW = ("            BatchSize: 10\n", "            BatchSize: 10\n            MaximumBatchingWindowInSeconds: 1\n")

BAD_TEMPLATES: dict[str, tuple[str, str]] = {
    # name: (rule expected, template body)
    "good": ("", _GOOD),
    "no-batch-item-failures": (
        "E9501",
        _edit(_GOOD, ("            FunctionResponseTypes: [ReportBatchItemFailures]\n", "")),
    ),
    "no-batch-item-failures-plain-esm": (
        "E9501",
        """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 180
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetterQueue.Arn
        maxReceiveCount: 5
  DeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Queue.Arn
      FunctionName: my-function
      FunctionResponseTypes: []
""",
    ),
    "no-dlq": ("E9502", _edit(_GOOD, _NO_REDRIVE, ("        maxReceiveCount: 5\n", ""))),
    "fifo-queue-standard-dlq": ("E9502", _edit(_GOOD, _FIFO_SOURCE)),
    "dlq-retention-not-longer": (
        "E9502",
        _edit(_GOOD, ("MessageRetentionPeriod: 1209600", "MessageRetentionPeriod: 345600")),
    ),
    # The function's Timeout comes from Globals: 6 x 30 = 180 > 179.
    "visibility-below-6x-global-timeout": ("E9503", _edit(_GOOD, ("VisibilityTimeout: 180", "VisibilityTimeout: 179"))),
    "visibility-below-6x-function-timeout": (
        "E9503",
        _edit(_GOOD, ("      Handler: orders.handler\n", "      Handler: orders.handler\n      Timeout: 60\n")),
    ),
    "batching-window-on-fifo": ("E9504", _edit(_GOOD, _FIFO_SOURCE, _FIFO_DLQ, _WINDOW)),
    "no-sample-events": (
        "E9505",
        _edit(_GOOD, ("    Metadata:\n      SampleEvents:\n        QueueEvent: events/sqs/orders.json\n", "")),
    ),
    "sample-event-file-missing": (
        "E9505",
        _edit(_GOOD, ("events/sqs/orders.json", "events/sqs/no-such-file.json")),
    ),
    "sample-event-of-another-source": (
        "E9505",
        _edit(_GOOD, ("events/sqs/orders.json", "events/sns/notification.json")),
    ),
    # E9506: patterns checked by msgworker.patterns (Lambda filter criteria, an EventBridge rule, an SNS policy).
    "invalid-filter-criteria": ("E9506", _edit(_GOOD, ('[">", 0]', '[">", "0"]'))),
    "wildcard-in-filter-criteria": ("E9506", _edit(_GOOD, ('{"numeric": [">", 0]}', '{"wildcard": "1*"}'))),
    "invalid-event-pattern": (
        "E9506",
        _GOOD
        + """\
  Rule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [com.example.orders]
        detail-type: OrderPlaced
""",
    ),
    "invalid-filter-policy": (
        "E9506",
        _GOOD
        + """\
  Topic:
    Type: AWS::SNS::Topic
  Subscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Queue.Arn
      FilterPolicy:
        event_type: [{wildcard: "user.*"}]
""",
    ),
}


def lint_templates(folder: Path, templates: dict[str, tuple[str, str]]) -> dict[str, set[str]]:
    """cfn-lint (with cfn_rules/) over every template body at once, in ``folder``: name -> rule ids found."""
    (folder / "events").symlink_to(ROOT / "events")  # sample event paths are relative to the template
    paths = []
    for name, (_, body) in templates.items():
        path = folder / f"{name}.yaml"
        path.write_text(_HEADER + textwrap.dedent(body))
        paths.append(path)
    result = run(
        [tool("sam", "bin", "cfn-lint"), "--append-rules", RULES, "--format", "json", "--", *paths],
        folder,
    )
    assert result.stdout.strip(), result.stderr
    findings: dict[str, set[str]] = {name: set() for name in templates}
    for match in json.loads(result.stdout):
        findings[Path(match["Filename"]).stem].add(match["Rule"]["Id"])
    return findings


@pytest.fixture(scope="module")
def rule_findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """cfn-lint (with cfn_rules/) over every bad template at once: file name -> rule ids found."""
    return lint_templates(tmp_path_factory.mktemp("bad-templates"), BAD_TEMPLATES)


def test_good_wiring_passes_every_rule(rule_findings: dict[str, set[str]]) -> None:
    # The hardening rules (E951x) want more than wiring: test_template_hardening.py has their good template.
    assert {rule for rule in rule_findings["good"] if not rule.startswith("E951")} == set()


@pytest.mark.parametrize("name", [name for name in BAD_TEMPLATES if name != "good"])
def test_custom_rule_fires_on_bad_wiring(name: str, rule_findings: dict[str, set[str]]) -> None:
    expected = BAD_TEMPLATES[name][0]
    found = rule_findings[name]
    assert expected in found, f"{name}: expected {expected}, cfn-lint reported {sorted(found) or 'nothing'}"
    # Only the broken aspect is reported by msgworker's wiring rules (the hardening rules, E951x, have
    # their own templates in test_template_hardening.py).
    assert {rule for rule in found if rule.startswith("E950")} == {expected}


# ---------------------------------------------------------------------------------------------
# Build: sam build offline, then each handler runs from the built layer alone
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("sam")
    build_dir = tmp / "build"
    result = run(
        [tool("sam", "bin", "sam"), "build", "--template", TEMPLATE, "--build-dir", build_dir],
        tmp,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return build_dir


def test_layer_holds_msgworker_and_lambda_wheels_but_not_boto3(sam_build: Path) -> None:
    python = sam_build / "MsgworkerLayer" / "python"
    for package in ("msgworker", "pydantic", "pydantic_core", "aws_lambda_powertools", "tenacity"):
        assert (python / package).is_dir(), f"{package} missing from the layer"
    for package in ("boto3", "botocore", "s3transfer"):
        assert not (python / package).exists(), f"{package} must not be in the layer (the runtime has it)"
    assert not list(python.glob("*yaml*")), "PyYAML is the CLI's, not the runtime's: it must not be in the layer"
    extensions = [p.name for p in (python / "pydantic_core").glob("*.so")]
    assert extensions and all("cpython-311-x86_64-linux-gnu" in name for name in extensions), extensions


# A user's own template: the layer under another logical id (SAM asks layer/Makefile for
# build-<LogicalId>), ContentUri pointing at a copy of msgworker's layer/ folder.
_RENAMED_LAYER = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  CommonLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: {layer}
      CompatibleRuntimes: [python3.11]
    Metadata:
      BuildMethod: makefile
  Consumer:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code/
      Handler: app.handler
      Runtime: python3.11
      Layers: [!Ref CommonLayer]
"""


def test_the_layer_builds_under_any_logical_id(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "app.py").write_text("from msgworker import worker\n\nhandler = worker()(print)\n")
    (tmp_path / "template.yaml").write_text(_RENAMED_LAYER.format(layer=ROOT / "layer"))
    result = run(
        [tool("sam", "bin", "sam"), "build", "--template", tmp_path / "template.yaml", "--build-dir", tmp_path / "b"],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    python = tmp_path / "b" / "CommonLayer" / "python"
    assert (python / "msgworker" / "__init__.py").is_file() and not list(python.glob("*yaml*"))
    assert (tmp_path / "b" / "Consumer" / "app.py").is_file()


def test_functions_contain_handler_code_only(sam_build: Path) -> None:
    handler_files = {p.name for p in (ROOT / "handlers").glob("*.py")}
    for function in FUNCTIONS:
        built = {p.name for p in (sam_build / function).iterdir()} - {"__pycache__"}
        assert built == handler_files, (function, built ^ handler_files)


# What the Lambda Python runtime itself provides (and the layer leaves out): boto3 and the
# packages it needs. Linked from this virtualenv into a folder of their own, so the layer-only
# run below has them the way Lambda does, on a path that is not a site-packages.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


@pytest.fixture(scope="session")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import importlib.util

    runtime = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, f"{name} is needed to stand in for the Lambda runtime"
        origin = Path(spec.origin)
        package = origin.parent if origin.name == "__init__.py" else origin
        (runtime / package.name).symlink_to(package)
    return runtime


@pytest.fixture(scope="module")
def aws() -> Iterator[Any]:
    """A moto server with the template's tables, for handlers whose layers use DynamoDB."""
    from msgworker.testing import local_aws

    with local_aws(TEMPLATE) as local:
        yield local


# Runs in a fresh interpreter with -I -S: no site-packages, no PYTHON* variables, no current
# directory on sys.path. Only the function's code, the layer's python/ folder and the runtime's
# own boto3 are importable, in the order Lambda uses (/var/task, /opt/python, then the runtime).
_IN_LAMBDA_PATH = """
import importlib, json, sys
function_dir, layer_dir, runtime_dir, handler, samples, out = sys.argv[1:7]
sys.path[0:0] = [function_dir, layer_dir]
sys.path.append(runtime_dir)
module_name, attribute = handler.rsplit(".", 1)
handle = getattr(importlib.import_module(module_name), attribute)
from msgworker.testing import LambdaContext
responses = {}
for name, path in json.loads(samples).items():
    with open(path) as f:
        responses[name] = handle(json.load(f), LambdaContext(timeout=30))
origins = {m: sys.modules[m].__file__ for m in (module_name, "msgworker", "pydantic", "pydantic_core")}
with open(out, "w") as f:
    json.dump({"responses": responses, "origins": origins, "path": sys.path}, f)
"""


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_handler_runs_from_built_layer_only(
    function: str, sam_build: Path, runtime_dir: Path, aws: Any, template: dict[str, Any], tmp_path: Path
) -> None:
    resource = template["Resources"][function]
    samples = {name: str(ROOT / path) for name, path in resource["Metadata"]["SampleEvents"].items()}
    function_dir = sam_build / function
    layer_dir = sam_build / "MsgworkerLayer" / "python"
    out = tmp_path / "out.json"
    env = {
        "PATH": os.environ.get("PATH", ""),
        **aws.environment,
        "MSGWORKER_IDEMPOTENCY_TABLE": cfn_template.physical_name(template, "IdempotencyTable"),
        "MSGWORKER_BREAKER_TABLE": cfn_template.physical_name(template, "BreakerTable"),
        "POWERTOOLS_SERVICE_NAME": function,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            _IN_LAMBDA_PATH,
            function_dir,
            layer_dir,
            runtime_dir,
            resource["Properties"]["Handler"],
            json.dumps(samples),
            out,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    assert report["responses"] == EXPECTED_RESPONSES[function]
    module = resource["Properties"]["Handler"].rsplit(".", 1)[0]
    assert Path(report["origins"][module]).parent == function_dir
    for package in ("msgworker", "pydantic", "pydantic_core"):
        assert Path(report["origins"][package]).is_relative_to(layer_dir), report["origins"]
    assert not any("site-packages" in entry for entry in report["path"]), report["path"]


# ---------------------------------------------------------------------------------------------
# Security scan: checkov, every suppression carries its reason and is documented
# ---------------------------------------------------------------------------------------------


def test_checkov_has_no_failed_checks_and_every_suppression_is_explained(tmp_path: Path) -> None:
    result = run(
        [
            tool("checkov", "bin", "checkov"),
            "--file",
            TEMPLATE,
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
        ],
        tmp_path,
    )
    report = json.loads(result.stdout)
    failed = report["results"]["failed_checks"]
    assert not failed, [(c["check_id"], c["resource"]) for c in failed]
    assert result.returncode == 0, result.stderr
    assert report["summary"]["passed"] > 0
    documented = (ROOT / "docs" / "deploy.md").read_text()
    for check in report["results"]["skipped_checks"]:
        comment = (check["check_result"].get("suppress_comment") or "").strip()
        assert len(comment) > 20, f"{check['check_id']} on {check['resource']} is suppressed without a reason"
        assert check["check_id"] in documented, f"{check['check_id']} is suppressed but not listed in docs/deploy.md"


# ---------------------------------------------------------------------------------------------
# Wiring the issue asks for, read straight from the template
# ---------------------------------------------------------------------------------------------


def test_functions_use_handlers_code_and_the_layer(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.11"
    assert globals_["Architectures"] == ["x86_64"]
    assert globals_["Layers"] == [{"Ref": "MsgworkerLayer"}]
    for function, handler in FUNCTIONS.items():
        props = template["Resources"][function]["Properties"]
        assert template["Resources"][function]["Type"] == "AWS::Serverless::Function"
        assert (props["CodeUri"], props["Handler"]) == ("handlers/", handler)
    layer = template["Resources"]["MsgworkerLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layer/"
    assert layer["Metadata"]["BuildMethod"] == "makefile"


def test_event_names_and_sample_events(template: dict[str, Any]) -> None:
    events = {f: set(template["Resources"][f]["Properties"]["Events"]) for f in FUNCTIONS}
    assert {"OrdersQueueEvent", "OrdersFifoQueueEvent"} <= events["OrdersFunction"]
    assert {"NotificationsQueueEvent", "NotificationsTopicEvent"} <= events["NotificationsFunction"]
    assert {"HighValueOrdersQueueEvent", "HighValueOrderEvent"} <= events["HighValueOrdersFunction"]
    for function in FUNCTIONS:
        samples = template["Resources"][function]["Metadata"]["SampleEvents"]
        assert set(samples) == events[function] == set(EXPECTED_RESPONSES[function])
        assert all((ROOT / path).is_file() and path.startswith("events/") for path in samples.values())


def test_tables_match_the_design_contract(template: dict[str, Any]) -> None:
    for name in ("IdempotencyTable", "BreakerTable"):
        props = template["Resources"][name]["Properties"]
        assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
        assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
    ttl = template["Resources"]["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiration", "Enabled": True}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["MSGWORKER_IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    assert variables["MSGWORKER_BREAKER_TABLE"] == {"Ref": "BreakerTable"}
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(variables)


def test_sqs_event_sources_are_tuned_on_purpose(template: dict[str, Any]) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    for function in FUNCTIONS:
        for name, event in template["Resources"][function]["Properties"]["Events"].items():
            if event["Type"] != "SQS":
                continue
            props = event["Properties"]
            queue = queues[ref_id(props["Queue"]) or ""]["Properties"]
            assert "BatchSize" in props, name
            assert props["ScalingConfig"]["MaximumConcurrency"] >= 2, name
            assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
            if queue.get("FifoQueue"):
                assert "MaximumBatchingWindowInSeconds" not in props, name
            else:
                assert "MaximumBatchingWindowInSeconds" in props, name


def test_queues_are_encrypted_and_dead_letter_queues_alarmed(template: dict[str, Any]) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    alarmed: dict[str, set[str]] = {}
    for alarm in alarms:
        props = alarm["Properties"]
        queue = ref_id(props["Dimensions"][0]["Value"])
        alarmed.setdefault(queue or "", set()).add(props["MetricName"])
    for name, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name
        if name in SOURCE_QUEUES:
            assert props["VisibilityTimeout"] >= 6 * template["Globals"]["Function"]["Timeout"], name
            assert props["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}, name
            assert "ApproximateAgeOfOldestMessage" in alarmed.get(name, set()), name
        else:
            assert "ApproximateNumberOfMessagesVisible" in alarmed.get(name, set()), f"DLQ {name} has no alarm"
    assert "KmsMasterKeyId" in template["Resources"]["NotificationsTopic"]["Properties"]


def test_queue_policies_admit_only_their_own_topic_or_rule(template: dict[str, Any]) -> None:
    policies = resources(template, "AWS::SQS::QueuePolicy")
    assert policies
    for name, policy in policies.items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert statement["Action"] == "sqs:SendMessage", name
            services = {"sns.amazonaws.com", "events.amazonaws.com", "s3.amazonaws.com"}
            assert set(statement["Principal"]["Service"].split()) <= services
            assert "aws:SourceArn" in statement["Condition"]["ArnEquals"], name


# Actions IAM authorizes on "*" only (they support no resource-level permissions).
UNSCOPABLE_ACTIONS = {
    "lambda:ListEventSourceMappings",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    # A Kafka event source mapping's network interfaces in the cluster's VPC (KafkaOrdersFunctionRole).
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
}


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement
    for name, policy in resources(template, "AWS::IAM::RolePolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield name, statement


def test_roles_grant_only_named_actions_on_own_resources(template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        assert template["Resources"][function]["Properties"]["Role"] == {"Fn::GetAtt": [f"{function}Role", "Arn"]}
    for role, statement in _statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert statement["Effect"] == "Allow"
        assert not any("*" in action for action in actions), (role, actions)
        assert "*" not in targets or set(actions) <= UNSCOPABLE_ACTIONS, (role, actions)
        assert "dynamodb:Scan" not in actions and "dynamodb:Query" not in actions, role
    table_actions = {
        action
        for _, statement in _statements(template)
        if isinstance(statement["Resource"], list)
        and {"Fn::GetAtt": ["IdempotencyTable", "Arn"]} in statement["Resource"]
        for action in statement["Action"]
    }
    assert table_actions == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def test_paused_event_sources_are_resumed_by_scheduler_with_a_role_only_the_functions_pass(
    template: dict[str, Any],
) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["MSGWORKER_SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": ["EventSourceResumeRole", "Arn"]}
    assert variables["MSGWORKER_SCHEDULE_GROUP"] == {"Ref": "ResumeScheduleGroup"}
    [trust] = template["Resources"]["EventSourceResumeRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    assert trust["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["ResumeScheduleGroup", "Arn"]}
    passers = {
        role
        for role, statement in _statements(template)
        if statement["Action"] == "iam:PassRole" and ref_id(statement["Resource"]) == "EventSourceResumeRole"
    }
    assert passers == {f"{function}Role" for function in PAUSING_FUNCTIONS}
    for function in PAUSING_FUNCTIONS:
        pausing = template["Resources"][f"{function}EventSourcePausing"]
        assert pausing["Type"] == "AWS::IAM::RolePolicy"
        assert pausing["Properties"]["RoleName"] == {"Ref": f"{function}Role"}
        [update] = [
            statement
            for statement in pausing["Properties"]["PolicyDocument"]["Statement"]
            if statement["Action"] == "lambda:UpdateEventSourceMapping"
        ]
        events = template["Resources"][function]["Properties"]["Events"]
        sqs_events = {name for name, event in events.items() if event["Type"] == "SQS"}
        assert {ref_id(target) for target in update["Resource"]} == {f"{function}{name}" for name in sqs_events}


def test_eventbridge_rule_matches_numerically_with_retry_and_dlq(template: dict[str, Any]) -> None:
    rule = template["Resources"]["HighValueOrdersRule"]["Properties"]
    pattern = json.loads(rule["EventPattern"]["Fn::Sub"].replace("${HighValueThreshold}", "1000"))
    assert pattern["detail"]["total"] == [{"numeric": [">=", 1000]}]
    target = rule["Targets"][0]
    assert ref_id(target["Arn"]) == "HighValueOrdersQueue"
    assert {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"} <= set(target["RetryPolicy"])
    assert ref_id(target["DeadLetterConfig"]["Arn"]) == "HighValueOrdersRuleDeadLetterQueue"
    event = template["Resources"]["HighValueOrdersFunction"]["Properties"]["Events"]["HighValueOrderEvent"]
    assert event["Type"] == "EventBridgeRule"
    assert {"RetryPolicy", "DeadLetterConfig"} <= set(event["Properties"])
