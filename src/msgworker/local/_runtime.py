"""The local runtime: a template's topology on the local endpoint, driven by msgworker.

:class:`LocalRuntime` creates the resources, starts one poller per event source mapping
(per shard for streams), one router per topic and bus, and the asynchronous invoker, and
answers what is going on (:meth:`status`) and whether everything has settled
(:meth:`drain`).
"""

from __future__ import annotations

import logging
import os
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from .. import _aws_clients
from ..testing._local_aws import LocalAws, local_aws
from ._clock import Clock
from ._environ import layered
from ._fanout import Router, Tap
from ._functions import LocalFunction
from ._invoker import AsyncInvoker
from ._model import Topology, load_topology
from ._resources import create
from ._sqs import SqsPoller
from ._streams import StreamPoller

log = logging.getLogger("msgworker.local")


@dataclass(frozen=True)
class QueueStatus:
    queue: str
    visible: int
    in_flight: int
    delayed: int
    dead_letters: int | None
    """Messages in its dead-letter queue; ``None`` without a RedrivePolicy."""


@dataclass(frozen=True)
class FunctionStatus:
    function: str
    invocations: int
    failures: int
    throttles: int
    running: int


@dataclass(frozen=True)
class Status:
    """A snapshot: every queue's depth and every function's counts."""

    queues: tuple[QueueStatus, ...]
    functions: tuple[FunctionStatus, ...]
    pending_async: int
    busy: tuple[str, ...]
    """What is still going on (empty when everything has settled)."""

    def table(self) -> str:
        lines = [f"{'queue':<34} {'visible':>7} {'in flight':>9} {'delayed':>7} {'DLQ':>5}"]
        for q in self.queues:
            dlq = "-" if q.dead_letters is None else str(q.dead_letters)
            lines.append(f"{q.queue:<34} {q.visible:>7} {q.in_flight:>9} {q.delayed:>7} {dlq:>5}")
        lines.append(f"{'function':<34} {'invocations':>11} {'failures':>8} {'throttles':>9} {'running':>7}")
        for f in self.functions:
            lines.append(f"{f.function:<34} {f.invocations:>11} {f.failures:>8} {f.throttles:>9} {f.running:>7}")
        lines.append(f"asynchronous invocations pending: {self.pending_async}")
        if self.busy:
            lines.append("still going on: " + "; ".join(self.busy))
        return "\n".join(lines)


class LocalRuntime:
    """A template running locally. Use as a context manager, or :meth:`start` / :meth:`stop`."""

    def __init__(self, template: str | Path, parameter_overrides: Mapping[str, Any] | None = None) -> None:
        self.topology: Topology = load_topology(template, parameter_overrides)
        self.clock = Clock()
        self._exit = ExitStack()
        self.aws: LocalAws | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.pollers: list[SqsPoller] = []
        self.stream_pollers: list[StreamPoller] = []
        self.taps: list[Tap] = []

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> LocalRuntime:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._exit.enter_context(_quiet("werkzeug"))  # the endpoint's request log
        self.aws = aws = self._exit.enter_context(local_aws())
        _reset_moto(aws.endpoint_url)
        self._exit.callback(_reset_moto, aws.endpoint_url)
        self.functions = {
            logical_id: LocalFunction(logical_id, function, on_change=self.clock.wake)
            for logical_id, function in self.topology.functions.items()
        }
        # What every function shares (the template's Globals) is set for the whole process, so
        # that code msgworker runs outside the invoking thread's context sees it too.
        shared = _shared([function.environment() for function in self.functions.values()])
        self._exit.enter_context(mock.patch.dict(os.environ, {**shared, **aws.environment}))
        self._exit.enter_context(layered())
        self.created = created = create(self.topology, aws.client)
        self.sqs = aws.client("sqs")
        self.invoker = AsyncInvoker(self.functions, self.clock, self.send_to)
        self.pollers = [
            SqsPoller(
                mapping,
                self.topology.queue(mapping.queue),
                created.queue_urls[mapping.queue],
                created.queue_arns[mapping.queue],
                self.functions[mapping.function],
                aws.client("sqs"),
                self.clock,
            )
            for mapping in self.topology.sqs_mappings
        ]
        for mapping in self.topology.stream_mappings:
            if mapping.kind == "kinesis":
                client = aws.client("kinesis")
                shards = client.list_shards(StreamARN=created.stream_arns[mapping.source])["Shards"]
            else:
                client = aws.client("dynamodbstreams")
                description = client.describe_stream(StreamArn=created.stream_arns[mapping.source])["StreamDescription"]
                shards = description["Shards"]
            for shard in shards:
                self.stream_pollers.append(
                    StreamPoller(
                        mapping,
                        self.functions[mapping.function],
                        client,
                        created.stream_arns[mapping.source],
                        shard["ShardId"],
                        self.clock,
                        self.send_to,
                    )
                )
        router = Router(
            self.topology.queues,
            created.queue_urls,
            self.sqs,
            self.invoker.submit,
            self.clock.wake,
            self.topology.subscriptions,
            self.topology.rules,
        )
        for (kind, source), url in created.taps.items():
            deliver = router.notification(source) if kind == "topic" else router.event(source)
            self.taps.append(Tap(kind, source, url, aws.client("sqs"), self.clock, deliver))
        for function in self.functions.values():
            function.handler()  # import errors show now, not at the first message
        parts: list[SqsPoller | StreamPoller | Tap | AsyncInvoker] = [
            self.invoker,
            *self.pollers,
            *self.stream_pollers,
            *self.taps,
        ]
        for part in parts:
            part.start()
            self._exit.callback(part.stop)
        self._exit.callback(_aws_clients.reset)
        _aws_clients.reset()  # msgworker's cached clients now point at this endpoint

    def stop(self) -> None:
        self._exit.close()

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        assert self.aws is not None, "the runtime is not started"
        return self.aws.endpoint_url

    # -- delivery ------------------------------------------------------------------

    def send_to(self, destination: str, body: str, attributes: Mapping[str, Any]) -> None:
        """Send to a destination named by logical id: a queue, a topic or a function."""
        if destination in self.created.queue_urls:
            extra: dict[str, Any] = {"MessageAttributes": dict(attributes)} if attributes else {}
            queue = self.topology.queues[destination]
            if queue.fifo:
                extra["MessageGroupId"] = "msgworker-local"
                extra["MessageDeduplicationId"] = str(time.time_ns())
            self.sqs.send_message(QueueUrl=self.created.queue_urls[destination], MessageBody=body, **extra)
        elif destination in self.created.topic_arns:
            self.aws_client("sns").publish(TopicArn=self.created.topic_arns[destination], Message=body)
        elif destination in self.functions:
            self.invoker.submit(destination, body, "destination")
        else:
            log.warning("destination %s is not a queue, topic or function of the template: not sent", destination)
        self.clock.wake()

    def aws_client(self, service: str) -> Any:
        assert self.aws is not None, "the runtime is not started"
        return self.aws.client(service)

    # -- what is going on ----------------------------------------------------------

    def status(self) -> Status:
        counts = {logical_id: self._counts(url) for logical_id, url in self.created.queue_urls.items()}
        queues = []
        for logical_id, queue in self.topology.queues.items():
            visible, in_flight, delayed = counts[logical_id]
            dlq = counts[queue.dead_letter][0] + counts[queue.dead_letter][1] if queue.dead_letter in counts else None
            queues.append(QueueStatus(logical_id, visible, in_flight, delayed, dlq))
        functions = tuple(
            FunctionStatus(name, f.stats.invocations, f.stats.failures, f.stats.throttles, f.stats.running)
            for name, f in self.functions.items()
        )
        return Status(tuple(queues), functions, self.invoker.pending(), tuple(self._busy(counts, None)))

    def _counts(self, url: str) -> tuple[int, int, int]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        visible, in_flight, delayed = (int(attributes.get(name, 0)) for name in names)
        return visible, in_flight, delayed

    def _busy(self, counts: Mapping[str, tuple[int, int, int]], stream_mark: Mapping[int, int] | None) -> list[str]:
        busy = [f"{name} running" for name, f in self.functions.items() if f.stats.running]
        busy += [f"{poller.name}: batch open" for poller in self.pollers if poller.batches]
        for queue in self.topology.consumed_queues():
            if any(counts[queue]):
                busy.append(
                    f"{queue}: {counts[queue][0]} visible, {counts[queue][1]} in flight, {counts[queue][2]} delayed"
                )
        for (kind, source), url in self.created.taps.items():
            if any(self._counts(url)):
                busy.append(f"{kind} {source}: routing")
        if self.invoker.pending():
            busy.append(f"{self.invoker.pending()} asynchronous invocation(s) pending")
        if stream_mark is not None:
            busy += [p.name for p in self.stream_pollers if p.mapping.enabled and not p.idle_since(stream_mark[id(p)])]
        return busy

    def drain(self, timeout: float = 30.0) -> None:
        """Return once nothing is visible or in flight in a consumed queue, no batch window
        is open, no invocation runs or waits, and every stream is read to its end. Time
        that would only be spent waiting passes at once (see ``_clock``)."""
        give_up = time.monotonic() + timeout
        mark = {id(poller): poller.empty_reads for poller in self.stream_pollers}
        settled = 0
        while True:
            counts = {queue: self._counts(self.created.queue_urls[queue]) for queue in self.topology.consumed_queues()}
            busy = self._busy(counts, mark)
            if not busy:
                settled += 1
                if settled >= 2:  # twice in a row: no poller was between a receive and its count
                    return
            else:
                settled = 0
                self._jump_if_waiting(counts)
            if time.monotonic() > give_up:
                raise TimeoutError(f"the local stack did not settle within {timeout} s:\n{self.status().table()}")
            time.sleep(0.01)

    def _jump_if_waiting(self, counts: Mapping[str, tuple[int, int, int]]) -> None:
        """Move the clock to the next deadline when nothing can happen before it."""
        if any(f.stats.running for f in self.functions.values()) or self.invoker.due_now():
            return
        generation = self.clock.generation
        for poller in self.pollers:
            if counts.get(poller.mapping.queue, (0, 0, 0))[0] and poller.starved_at != generation:
                return  # something is there to receive (not held back by a blocked FIFO group)
        deadlines = [self.clock.next_deadline(), *(poller.next_return() for poller in self.pollers)]
        upcoming = [moment for moment in deadlines if moment is not None]
        if not upcoming:
            return
        # The pollers release what came due themselves, before their next receive: a release
        # from here could land just after a poller began a long poll, which it would not end.
        self.clock.advance_to(min(upcoming))


def _shared(environments: list[dict[str, str]]) -> dict[str, str]:
    if not environments:
        return {}
    common = set(environments[0].items()).intersection(*(set(e.items()) for e in environments[1:]))
    return dict(common)


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _reset_moto(endpoint_url: str) -> None:
    """moto keeps resources per process, not per server: start (and leave) it empty."""
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()
