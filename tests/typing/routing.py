"""Type-checked by mypy --strict (not run): ``worker(router)`` is a ``Worker`` for users'
type checkers, and ``@router.route`` keeps the decorated function's own type."""

from __future__ import annotations

from msgworker import Worker, worker
from msgworker.routing import Router

router = Router()


@router.route({"detail-type": ["OrderPlaced"]})
def placed(detail: dict[str, object]) -> int:
    return len(detail)


handler: Worker = worker(router)
count: int = placed({"order_id": "o-1"})
