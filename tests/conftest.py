from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

EVENTS = Path(__file__).resolve().parent.parent / "events"


class Order(BaseModel):
    order_id: str
    total: float = Field(ge=0)


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def order_json():
    def make(order_id: str, total: float = 10.0) -> str:
        return json.dumps({"order_id": order_id, "total": total})

    return make
