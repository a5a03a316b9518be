"""Checked by mypy in `make typecheck`: the loggers the README promises fit worker(logger=...)."""

import logging

from aws_lambda_powertools import Logger, Metrics

from msgworker import worker


def accepts_real_loggers_and_metrics() -> None:
    worker(logger=logging.getLogger("app"))
    worker(logger=Logger(service="app"))
    worker(metrics=Metrics(namespace="App"))
