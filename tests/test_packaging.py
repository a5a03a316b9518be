"""What a user installs: the runtime dependencies, the extras, the layer's lock and the layer
zip `make layer` writes (docs/decisions/0023-packaging.md)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = ROOT / "layer" / "requirements.lock"

# Lambda's limits for a layer published with --zip-file: 50 MB zipped; 250 MB unzipped for a
# function and all its layers together.
ZIPPED_LIMIT = 50_000_000
UNZIPPED_LIMIT = 250_000_000


def runtime_requirements() -> dict[str, Requirement]:
    requirements = (Requirement(text) for text in PYPROJECT["project"]["dependencies"])
    return {canonicalize_name(requirement.name): requirement for requirement in requirements}


def locked() -> dict[str, dict[str, Any]]:
    """The lock's pins: name → version, hashes and what needs it (uv's `# via` annotations)."""
    pins: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in LOCK.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9._-]+)==([^ ]+)", line):
            current = pins[canonicalize_name(match[1])] = {"version": match[2], "hashes": [], "via": set()}
        elif current is not None and (match := re.search(r"--hash=(sha256:[0-9a-f]{64})", line)):
            current["hashes"].append(match[1])
        elif current is not None and (match := re.match(r"^\s+#\s+(?:via\s+)?([A-Za-z0-9._-]+)", line)):
            current["via"].add(canonicalize_name(match[1]))
    return pins


# Every module of the runtime, imported; `names` lists them. Not the CLI (extra `cli`), nor the
# pytest plugin (extra `testing`: pytest loads it, and brings itself).
_IMPORT_THE_RUNTIME = """
runtime = pkgutil.walk_packages(msgworker.__path__, "msgworker.")
outside = ("msgworker.cli", "msgworker.testing._plugin")
names = [module.name for module in runtime if not module.name.startswith(outside)]
for name in names:
    importlib.import_module(name)
"""

# ---------------------------------------------------------------------------------------------
# Dependencies and extras
# ---------------------------------------------------------------------------------------------


def test_the_runtime_needs_neither_pyyaml_nor_botocore() -> None:
    # PyYAML is the CLI's (extra `cli`); botocore comes with the Lambda runtime (extra `aws`).
    assert set(runtime_requirements()) == {"pydantic", "aws-lambda-powertools", "tenacity"}
    extras = PYPROJECT["project"]["optional-dependencies"]
    cli = {canonicalize_name(Requirement(text).name) for text in extras["cli"]}
    assert "pyyaml" in cli and cli & {"botocore", "boto3"}, cli
    assert [Requirement(text).name for text in extras["aws"]] == ["botocore"]


def test_the_lock_pins_exactly_the_runtime_dependencies_with_hashes() -> None:
    pins = locked()
    direct = {name for name, pin in pins.items() if "msgworker" in pin["via"]}
    assert direct == set(runtime_requirements()), "run `make lock`: the lock is not pyproject's dependencies"
    for name, requirement in runtime_requirements().items():
        assert requirement.specifier.contains(pins[name]["version"]), (name, pins[name]["version"], "run `make lock`")
    for name, pin in pins.items():
        assert pin["hashes"], f"{name} has no hash in {LOCK.name}"
        # Every other pin is there because a pinned package needs it: nothing stale.
        assert pin["via"] & ({"msgworker"} | set(pins)), (name, pin["via"])
    assert not {"pyyaml", "botocore", "boto3"} & set(pins)


# The runtime's own modules, imported and run in a fresh interpreter where `import yaml` fails:
# only the CLI (msgworker.cli) may need PyYAML.
_WITHOUT_YAML = """
import importlib, json, pkgutil, sys
sys.modules["yaml"] = None
import msgworker
{imports}
from msgworker import worker
from msgworker.testing import LambdaContext, sqs_event
handler = worker()(lambda payload: None)
print(json.dumps({"modules": len(names), "response": handler(sqs_event([{"a": 1}]), LambdaContext(timeout=3))}))
""".replace("{imports}", _IMPORT_THE_RUNTIME)


def test_the_runtime_imports_and_runs_without_pyyaml() -> None:
    result = subprocess.run([sys.executable, "-c", _WITHOUT_YAML], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["modules"] > 40 and report["response"] == {"batchItemFailures": []}


def test_the_cli_without_pyyaml_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    code = "import sys; sys.modules['yaml'] = None; from msgworker.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, "invoke", "Function", "-e", "-", "-t", str(tmp_path / "template.yaml")],
        input="{}",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert 'pip install "msgworker[cli]"' in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------
# `make layer`: a zip for `aws lambda publish-layer-version`
# ---------------------------------------------------------------------------------------------

# Only the zip's python/ folder on sys.path (-I -S: no site-packages, no PYTHON* variables, no
# current directory), as in a Lambda without boto3: every module msgworker's runtime has, then a
# handler on a sample event.
_FROM_THE_ZIP_ONLY = """
import importlib, json, pkgutil, sys
sys.path[:] = [sys.argv[1]] + [p for p in sys.path if "site-packages" not in p and p != ""]
import msgworker
{imports}
from pydantic import BaseModel
from msgworker import worker, retry
from msgworker.testing import LambdaContext, sqs_event
class Order(BaseModel):
    order_id: str
@worker(Order)
@retry(attempts=2)
def handler(order: Order) -> None:
    if order.order_id == "bad":
        raise ValueError("bad order")
response = handler(sqs_event([{"order_id": "o-1"}, {"order_id": "bad"}]), LambdaContext(timeout=3))
yaml = importlib.util.find_spec("yaml")
origins = {m: sys.modules[m].__file__ for m in ("msgworker", "pydantic_core", "aws_lambda_powertools", "tenacity")}
print(json.dumps({"failed": len(response["batchItemFailures"]), "origins": origins, "yaml": yaml is not None}))
""".replace("{imports}", _IMPORT_THE_RUNTIME)


@pytest.fixture(scope="module")
def layer_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("layer")
    zip_path = tmp / "msgworker-layer.zip"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    result = subprocess.run(
        ["make", "--no-print-directory", "layer", f"ZIP={zip_path}", f"ZIP_BUILD={tmp / 'build'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return zip_path, result.stdout


def test_make_layer_writes_a_zip_with_python_at_its_root_and_prints_its_size(layer_zip: tuple[Path, str]) -> None:
    zip_path, output = layer_zip
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        unzipped = sum(info.file_size for info in archive.infolist())
    assert names and all(name.startswith("python/") for name in names)
    tops = {name.split("/")[1] for name in names}
    assert {"msgworker", "pydantic", "pydantic_core", "aws_lambda_powertools", "tenacity"} <= tops
    assert not tops & {"yaml", "_yaml", "boto3", "botocore", "bin"}, tops
    assert zip_path.stat().st_size < ZIPPED_LIMIT and unzipped < UNZIPPED_LIMIT
    assert f"{zip_path}: {zip_path.stat().st_size / 1e6:.1f} MB zipped, {unzipped / 1e6:.1f} MB unzipped" in output


def test_the_zips_contents_import_and_run_in_a_clean_interpreter(layer_zip: tuple[Path, str], tmp_path: Path) -> None:
    with zipfile.ZipFile(layer_zip[0]) as archive:
        archive.extractall(tmp_path / "opt")
    python = tmp_path / "opt" / "python"
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _FROM_THE_ZIP_ONLY, str(python)],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["failed"] == 1 and report["yaml"] is False
    assert all(Path(origin).is_relative_to(python) for origin in report["origins"].values()), report["origins"]


def test_local_aws_without_moto_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text("Resources: {}\n")
    code = "import sys; sys.modules['moto'] = None; from msgworker.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [sys.executable, "-c", code, "local-aws", "-t", str(tmp_path / "template.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert 'pip install "msgworker[testing]"' in result.stderr, result.stderr
