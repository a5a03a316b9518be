"""The region a local run uses, chosen as ``sam local invoke`` chooses it.

``sam local invoke`` gives the function ``AWS_REGION`` and ``AWS_DEFAULT_REGION`` (both the same),
and ``AWS::Region`` in the template, from, in order: ``--region``; the ``region`` of the SAM
config file beside the template (``samconfig.toml``: ``[default.local_invoke.parameters]``, then
``[default.global.parameters]``); the AWS SDK's own setting (``AWS_DEFAULT_REGION``, ``AWS_REGION``,
the profile's ``region``); else ``us-east-1``. Without a region botocore refuses to make a
client ("You must specify a region"), so every ``@idempotent`` record would fail.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._aws_clients import botocore
from ..errors import ConfigurationError

DEFAULT_REGION = "us-east-1"
SAM_CONFIG = "samconfig.toml"
# samconfig.toml's sections for `sam local invoke`, most specific first.
_SAM_COMMANDS = ("local_invoke", "global")


def resolve_region(
    option: str | None,
    template: Path,
    environ: Mapping[str, str] | None = None,
    profile_region: Callable[[], str | None] | None = None,
) -> str:
    """The region for a run of a function of ``template``: ``option`` (``--region``), else
    samconfig.toml's, else the SDK's (``environ``, default ``os.environ``, then
    ``profile_region()``, default the AWS config file's), else ``us-east-1``.

    Example:
        >>> resolve_region("eu-west-1", Path("template.yaml"))
        'eu-west-1'
        >>> resolve_region(None, Path("/nonexistent/template.yaml"), {"AWS_REGION": "ap-south-1"})
        'ap-south-1'
        >>> resolve_region(None, Path("/nonexistent/template.yaml"), {}, lambda: None)
        'us-east-1'
    """
    environ = os.environ if environ is None else environ
    return (
        option
        or _sam_config_region(template.parent / SAM_CONFIG)
        or environ.get("AWS_DEFAULT_REGION")
        or environ.get("AWS_REGION")
        or (profile_region or _profile_region)()
        or DEFAULT_REGION
    )


def region_environment(region: str) -> dict[str, str]:
    """The variables Lambda (and ``sam local invoke``) set for the region.

    Example:
        >>> region_environment("eu-west-1")
        {'AWS_REGION': 'eu-west-1', 'AWS_DEFAULT_REGION': 'eu-west-1'}
    """
    return {"AWS_REGION": region, "AWS_DEFAULT_REGION": region}


def _sam_config_region(path: Path) -> str | None:
    try:
        config: dict[str, Any] = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None  # no (readable) samconfig.toml: sam itself goes on without one
    environment = config.get("default") or {}
    for command in _SAM_COMMANDS:
        region = ((environment.get(command) or {}).get("parameters") or {}).get("region")
        if isinstance(region, str) and region:
            return region
    return None


def _profile_region() -> str | None:
    """The AWS config file's region for the current profile (``AWS_PROFILE``), as the SDK reads it."""
    try:
        session = botocore("session").get_session()
    except ConfigurationError:
        return None  # no SDK, so no profile: the default region
    configured = session.get_config_variable("region")
    return str(configured) if configured else None
