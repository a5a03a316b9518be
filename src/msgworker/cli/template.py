"""Read a SAM template the way ``sam local invoke`` does, for one function.

Only what running a function locally needs: the function's code folder, handler,
timeout, memory, name and environment, with ``Globals.Function`` applied and the
common intrinsics (``Ref``, ``Fn::Sub``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::If`` of
a parameter condition) resolved to local stand-ins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "local",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}


class TemplateError(Exception):
    """The template cannot be read, or does not define what was asked for."""


@dataclass(frozen=True)
class FunctionSpec:
    """One function of a template, resolved for a local run."""

    logical_id: str
    code_dir: Path
    handler: str
    runtime: str | None
    timeout: float
    memory_mb: int
    function_name: str
    environment: dict[str, str]
    sample_events: dict[str, str] = field(default_factory=dict)
    """SAM event name → event file (relative to the template), from the function's
    ``Metadata.SampleEvents``."""


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data; CloudFormation short tags (``!Ref X``) become their
    long forms (``{"Ref": "X"}``)."""
    try:
        import yaml  # the CLI's own dependency: Lambda functions never read templates
    except ImportError:
        raise TemplateError(
            f'reading {path} needs PyYAML, which is not installed: pip install "msgworker[cli]"'
        ) from None

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
        name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    Loader.add_multi_constructor("!", construct)
    try:
        text = path.read_text()
    except OSError as error:
        raise TemplateError(f"cannot read template {path}: {error.strerror}") from None
    try:
        document = yaml.load(text, Loader=Loader)
    except yaml.YAMLError as error:
        raise TemplateError(f"template {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"template {path} has no Resources section")
    return document


def function_ids(template: Mapping[str, Any]) -> list[str]:
    return [name for name, resource in template["Resources"].items() if _is_function(resource)]


def resolve_function(
    template: Mapping[str, Any],
    template_path: Path,
    logical_id: str,
    overrides: Mapping[str, Any] | None = None,
    parameters: Mapping[str, str] | None = None,
    region: str = "us-east-1",
) -> FunctionSpec:
    """The function ``logical_id``, with Globals applied, template ``parameters``
    overriding their defaults, ``AWS::Region`` (and the region in local ARNs) ``region``, and
    ``overrides`` (the SAM ``--env-vars`` format: ``{"Parameters": {...}, "<LogicalId>": {...}}``)
    merged into its environment."""
    resources = template["Resources"]
    resource = resources.get(logical_id)
    if not _is_function(resource):
        known = ", ".join(function_ids(template)) or "none"
        raise TemplateError(f"no function {logical_id!r} in {template_path} (functions: {known})")
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    properties = {**globals_, **(resource.get("Properties") or {})}
    resolver = _Resolver(template, parameters or {}, region)

    handler = properties.get("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"function {logical_id} has no Handler of the form module.function")
    code_uri = properties.get("CodeUri", ".")
    if not isinstance(code_uri, str):
        raise TemplateError(f"function {logical_id}: only a local CodeUri folder can be run, got {code_uri!r}")
    function_name = resolver.resolve(properties.get("FunctionName")) or logical_id

    variables: dict[str, Any] = {
        **((globals_.get("Environment") or {}).get("Variables") or {}),
        **(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}),
    }
    environment = {name: _text(resolver.resolve(value)) for name, value in variables.items()}
    for scope in _override_scopes(overrides or {}, logical_id, str(function_name)):
        for name, value in scope.items():
            # As sam local does: only variables the template declares can be overridden.
            if name in environment:
                environment[name] = _text(value)

    metadata = resource.get("Metadata") or {}
    samples = metadata.get("SampleEvents") or {}
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=(template_path.parent / code_uri).resolve(),
        handler=handler,
        runtime=properties.get("Runtime"),
        timeout=float(resolver.resolve(properties.get("Timeout")) or 3),
        memory_mb=int(resolver.resolve(properties.get("MemorySize")) or 128),
        function_name=str(function_name),
        environment=environment,
        sample_events={str(name): str(path) for name, path in samples.items()},
    )


def resolver(template: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> _Resolver:
    """Resolves intrinsics of ``template`` to local stand-ins (``resolve(value)``, ``ref(name)``),
    with ``parameters`` overriding the template's defaults."""
    return _Resolver(template, parameters or {})


def table_variables(template: Mapping[str, Any]) -> dict[str, str]:
    """The functions' environment variables that name one of the template's DynamoDB tables
    (``MSGWORKER_IDEMPOTENCY_TABLE: !Ref IdempotencyTable``), with the table's local name: what a
    process outside ``msgworker invoke`` (a test, a script) needs to find the tables. A variable
    that names different tables in different functions is left out.

    Example:
        >>> table_variables({"Globals": {"Function": {"Environment": {"Variables": {"T": {"Ref": "Items"}}}}},
        ...                  "Resources": {"Items": {"Type": "AWS::DynamoDB::Table"}}})
        {'T': 'Items'}
    """
    resources = template["Resources"]
    scopes = [((template.get("Globals") or {}).get("Function") or {}).get("Environment") or {}]
    scopes += [((resource.get("Properties") or {}).get("Environment") or {}) for resource in _functions(template)]
    found: dict[str, set[str]] = {}
    for scope in scopes:
        for name, value in (scope.get("Variables") or {}).items():
            target = value.get("Ref") if isinstance(value, dict) and len(value) == 1 else None
            if isinstance(target, str) and (resources.get(target) or {}).get("Type") == "AWS::DynamoDB::Table":
                found.setdefault(name, set()).add(physical_name(template, target))
    return {name: tables.pop() for name, tables in found.items() if len(tables) == 1}


def physical_name(template: Mapping[str, Any], logical_id: str) -> str:
    """The local stand-in for a resource's name: what ``!Ref`` resolves to locally."""
    return str(_Resolver(template, {}).ref(logical_id))


def _functions(template: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [resource for resource in template["Resources"].values() if _is_function(resource)]


def _is_function(resource: Any) -> bool:
    return isinstance(resource, dict) and resource.get("Type") in FUNCTION_TYPES


def _override_scopes(overrides: Mapping[str, Any], logical_id: str, function_name: str) -> list[Mapping[str, Any]]:
    """Global Parameters first, then the function's own block (which wins)."""
    scopes = [overrides.get("Parameters") or {}]
    for key in (function_name, logical_id):
        if isinstance(overrides.get(key), Mapping):
            scopes.append(overrides[key])
            break
    return [scope for scope in scopes if isinstance(scope, Mapping)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value)


class _Resolver:
    """Local stand-ins for intrinsics: parameters take their defaults, a resource's Ref
    its physical name if the template gives one (TableName, QueueName, ...) or else its
    logical id, a GetAtt an ARN-shaped string."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str], region: str = "us-east-1"):
        declared = template.get("Parameters") or {}
        unknown = sorted(set(parameters) - set(declared))
        if unknown:
            raise TemplateError(f"parameter override(s) {', '.join(unknown)} not declared in the template's Parameters")
        self.parameters = {name: (spec or {}).get("Default") for name, spec in declared.items()} | dict(parameters)
        self.resources = template["Resources"]
        self.region = region

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self.ref(str(argument))
            if name == "Fn::Sub":
                return self.sub(argument)
            if name == "Fn::GetAtt":
                parts = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return f"arn:aws:local:{self.region}:123456789012:{parts[0]}/{parts[-1]}"
            if name == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
                return str(argument[0]).join(_text(self.resolve(item)) for item in argument[1])
            if name == "Fn::If" and isinstance(argument, list) and len(argument) == 3:
                return self.resolve(argument[1])
        return {key: self.resolve(item) for key, item in value.items()}

    def ref(self, name: str) -> Any:
        if name == "AWS::Region":
            return self.region
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.resources.get(name) or {}
        properties = resource.get("Properties") or {}
        for key in ("TableName", "QueueName", "TopicName", "FunctionName", "Name"):
            if isinstance(properties.get(key), str):
                return properties[key]
        return name

    def sub(self, argument: Any) -> str:
        text, variables = (argument[0], argument[1]) if isinstance(argument, list) else (argument, {})

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return _text(self.resolve(variables[name]))
            if "." in name:
                return _text(self.resolve({"Fn::GetAtt": name.split(".", 1)}))
            return _text(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, str(text))


def parse_parameter_overrides(text: str) -> dict[str, str]:
    """``sam``'s ``--parameter-overrides``: ``Key=Value Key2=Value2`` or
    ``ParameterKey=Key,ParameterValue=Value ...``.

    Example:
        >>> parse_parameter_overrides("Stage=prod ParameterKey=Limit,ParameterValue=5")
        {'Stage': 'prod', 'Limit': '5'}
    """
    import shlex

    parameters: dict[str, str] = {}
    for item in shlex.split(text):
        if item.startswith("ParameterKey="):
            fields = dict(part.split("=", 1) for part in item.split(",") if "=" in part)
            if "ParameterValue" not in fields:
                raise TemplateError(f"parameter override {item!r} has no ParameterValue")
            parameters[fields["ParameterKey"]] = fields["ParameterValue"]
        elif "=" in item:
            key, value = item.split("=", 1)
            parameters[key] = value
        else:
            raise TemplateError(f"parameter override {item!r} is not Key=Value")
    return parameters
