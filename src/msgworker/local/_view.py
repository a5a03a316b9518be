"""The live view of ``msgworker local``: queue depths and function counts, redrawn in place."""

from __future__ import annotations

from typing import Any

from ._runtime import Status


def render(status: Status, endpoint_url: str) -> Any:
    """A ``rich`` renderable of ``status``: per queue visible / in flight / DLQ depth, per
    function invocations / failures / throttles / running.

    Example:
        >>> from msgworker.local import FunctionStatus, QueueStatus
        >>> queues = (QueueStatus("OrdersQueue", 2, 1, 0, 0),)
        >>> status = Status(queues, (FunctionStatus("OrdersFunction", 3, 1, 0, 0),), 0, ())
        >>> type(render(status, "http://127.0.0.1:5000")).__name__
        'Group'
    """
    from rich.console import Group
    from rich.table import Table

    queues = Table(title=f"queues at {endpoint_url}", title_justify="left", expand=False)
    for column in ("queue", "visible", "in flight", "delayed", "DLQ depth"):
        queues.add_column(column, justify="left" if column == "queue" else "right")
    for queue in status.queues:
        dlq = "" if queue.dead_letters is None else str(queue.dead_letters)
        style = "red" if queue.dead_letters else None
        queues.add_row(queue.queue, str(queue.visible), str(queue.in_flight), str(queue.delayed), dlq, style=style)
    functions = Table(title="functions", title_justify="left", expand=False)
    for column in ("function", "invocations", "failures", "throttles", "running"):
        functions.add_column(column, justify="left" if column == "function" else "right")
    for function in status.functions:
        functions.add_row(
            function.function,
            str(function.invocations),
            str(function.failures),
            str(function.throttles),
            str(function.running),
        )
    return Group(queues, functions)
