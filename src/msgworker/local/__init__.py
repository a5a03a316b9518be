"""A template's whole messaging topology on a laptop, without Docker.

    msgworker local -t template.yaml            # foreground; Ctrl-C stops it

    from msgworker.testing import local_stack   # the same, in tests

The template's queues, topics, subscriptions, buses, rules, tables, streams and functions
run on a local AWS endpoint (moto's server on loopback), with the delivery semantics AWS
documents, driven by msgworker: event source mappings (``_sqs``, ``_streams``), SNS and
EventBridge routing (``_fanout``), asynchronous invocations (``_invoker``), the functions
themselves in this process (``_functions``). Every decision is a pure function in
``_decisions``; ``_model`` reads the template. The design is docs/decisions/0018-local-runtime.md.
"""

from ._functions import Invocation
from ._model import Topology, load_topology
from ._runtime import FunctionStatus, LocalRuntime, QueueStatus, Status
from ._stack import DeadLetter, LocalStack, local_stack

__all__ = [
    "DeadLetter",
    "FunctionStatus",
    "Invocation",
    "LocalRuntime",
    "LocalStack",
    "QueueStatus",
    "Status",
    "Topology",
    "load_topology",
    "local_stack",
]
