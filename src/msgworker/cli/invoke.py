"""``msgworker invoke``: run a template function on an event, like ``sam local invoke``
but in this process, without Docker."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ..testing import LambdaContext
from .region import region_environment, resolve_region
from .run import CommandError, call_handler, import_handler, read_event, split_handler
from .template import TemplateError, load_template, parse_parameter_overrides, resolve_function


def add_invoke_command(commands: Any) -> None:
    invoke = commands.add_parser(
        "invoke",
        help="run a function of a SAM template on an event (no Docker)",
        description="Run FUNCTION_LOGICAL_ID from a SAM template on an event, with the template's CodeUri, "
        "Handler, Timeout, MemorySize and Environment (Globals applied). Mirrors sam local invoke: "
        "the response on stdout, logs on stderr, exit 1 when the function fails. AWS calls go where the "
        "environment points them (e.g. AWS_ENDPOINT_URL).",
    )
    invoke.add_argument("function", metavar="FUNCTION_LOGICAL_ID")
    invoke.add_argument("-e", "--event", required=True, help="event JSON file ('-' for stdin)")
    invoke.add_argument("-t", "--template", default="template.yaml", help="SAM template (default template.yaml)")
    invoke.add_argument(
        "-n",
        "--env-vars",
        help='JSON file overriding environment variables, in SAM\'s format: {"Parameters": {...}, '
        '"FunctionLogicalId": {...}}',
    )
    invoke.add_argument(
        "--parameter-overrides",
        default="",
        help="template parameter values, as sam takes them: 'Key=Value Key2=Value2' or "
        "'ParameterKey=Key,ParameterValue=Value'",
    )
    invoke.add_argument(
        "--region",
        help="AWS_REGION/AWS_DEFAULT_REGION and AWS::Region for the run (default, as sam: samconfig.toml's "
        "region, then the SDK's, then us-east-1)",
    )
    invoke.set_defaults(handle=invoke_function)


def invoke_function(arguments: argparse.Namespace) -> int:
    template_path = Path(arguments.template)
    overrides = read_event(arguments.env_vars) if arguments.env_vars else None
    if overrides is not None and not isinstance(overrides, dict):
        raise CommandError(f"env vars file {arguments.env_vars} must hold a JSON object")
    try:
        parameters = parse_parameter_overrides(arguments.parameter_overrides)
        region = resolve_region(arguments.region, template_path)
        spec = resolve_function(
            load_template(template_path), template_path, arguments.function, overrides, parameters, region
        )
    except TemplateError as error:
        raise CommandError(str(error)) from None
    event = read_event(arguments.event)
    os.environ.update(spec.environment)
    os.environ.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            **region_environment(region),
        }
    )
    module_name, attribute = split_handler(spec.handler)
    handler = import_handler(module_name, attribute, [spec.code_dir])
    context = LambdaContext(function_name=spec.function_name, timeout=spec.timeout, memory_limit_in_mb=spec.memory_mb)
    return call_handler(handler, event, context)
