"""``msgworker pattern test``: match or no match with the explanation, exit codes for scripts."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from msgworker.cli import main

ROOT = Path(__file__).resolve().parent.parent
ORDER_EVENT = str(ROOT / "events" / "eventbridge" / "high-value-order.json")
NOTIFICATION = str(ROOT / "events" / "sns" / "notification.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["pattern", "test", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_matching_pattern_prints_match_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, '{"detail-type": ["OrderPlaced"]}', "-e", ORDER_EVENT)
    assert (status, out) == (0, "match\n")


def test_no_match_exits_1_and_names_the_failed_field_and_condition_not_the_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pattern = '{"detail-type": ["OrderPlaced"], "detail": {"total": [{"numeric": [">", 10000]}]}}'
    status, out, _ = run(capsys, pattern, "-e", ORDER_EVENT)
    assert status == 1
    assert out.splitlines() == ["no match", "  detail.total: no value matches; expected numeric > 10000"]
    assert "5120" not in out


def test_pattern_and_event_may_be_files_and_the_event_stdin(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pattern = tmp_path / "pattern.json"
    pattern.write_text(json.dumps({"source": [{"prefix": "com.example"}]}))
    monkeypatch.setattr("sys.stdin", io.StringIO(Path(ORDER_EVENT).read_text()))
    assert run(capsys, str(pattern), "-e", "-")[0] == 0
    assert run(capsys, str(pattern), "-e", ORDER_EVENT, "--quiet")[:2] == (0, "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (['{"source": "aws.ec2"}', "-e", "{}"], "invalid event pattern at source"),
        (["no-such-file.json", "-e", "{}"], "cannot read pattern file no-such-file.json"),
        (['{"source": ["a"]}', "-e", "{not json"], "the inline event is not JSON"),
        (['{"a": [{"wildcard": "x*"}]}', "--filter-policy", "-e", "{}"], "invalid filter policy at a[0]"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.startswith("msgworker pattern: ") and message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("policy", "extra", "expected"),
    [
        ({"event_type": [{"prefix": "user."}]}, [], 0),
        ({"event_type": [{"anything-but": {"prefix": "user."}}]}, [], 1),
        ({"channel": ["email"]}, ["--scope", "MessageBody"], 0),
        ({"channel": ["sms"]}, ["--scope", "MessageBody"], 1),
    ],
)
def test_filter_policies_read_attributes_or_body_from_an_sns_event(
    capsys: pytest.CaptureFixture[str], policy: dict[str, Any], extra: list[str], expected: int
) -> None:
    assert run(capsys, json.dumps(policy), "--filter-policy", *extra, "-e", NOTIFICATION)[0] == expected


def test_filter_policy_event_may_be_the_attributes_themselves(capsys: pytest.CaptureFixture[str]) -> None:
    attributes = json.dumps({"price_usd": {"Type": "Number", "Value": "210.75"}})
    status, out, _ = run(capsys, '{"price_usd": [{"numeric": [">", 500]}]}', "--filter-policy", "-e", attributes)
    assert status == 1 and "price_usd: no value matches; expected numeric > 500" in out


def test_service_lambda_checks_the_pattern_as_lambda_event_filtering_does(capsys: pytest.CaptureFixture[str]) -> None:
    pattern = '{"source": [{"wildcard": "com.*"}]}'
    assert run(capsys, pattern, "-e", ORDER_EVENT)[0] == 0
    status, _, err = run(capsys, pattern, "--service", "lambda", "-e", ORDER_EVENT)
    assert status == 2 and "invalid Lambda filter pattern at source[0]" in err
