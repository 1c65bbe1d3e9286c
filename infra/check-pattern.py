#!/usr/bin/env python3
"""Check the EventBridge pattern that routes pull failures to pulldoctor.

infra/patterns/pull-failure.json is the one source of truth for the pattern. This script:

1. asserts that template.yaml's rule uses exactly that pattern (parsed, not text);
   `--fix` rewrites the block between the "BEGIN pattern"/"END pattern" markers in
   template.yaml from the JSON file;
2. runs every sample event in infra/patterns/samples/ through a reference matcher that
   follows EventBridge's documented semantics: `match-*.json` must match and
   `nomatch-*.json` must not;
3. cross-checks with moto (unless --no-moto): starts `moto_server` on a free 127.0.0.1
   port, creates the rule on the default bus with an SQS target, sends every sample with
   PutEvents and sees whether it is delivered.

About moto (5.2.x): it does not implement TestEventPattern (the backend raises
NotImplementedError, the server answers with an empty body), so step 3 uses
PutRule + PutEvents, which runs moto's own matcher. That matcher supports
`prefix`, `wildcard` and `$or`, but differs from EventBridge in two ways that matter here:
  * it does not look inside arrays of objects, so `detail.containers.reason`
    never matches (EventBridge matches when any element's `reason` does);
  * its `wildcard` `*` does not match across a newline (it compiles to a regex `.*`
    without DOTALL); ECS agent messages can carry "\\n\\tstatus code: ...".
The script therefore predicts moto's verdict with the same reference matcher switched to
moto's two quirks and requires moto to agree; the samples whose EventBridge verdict moto
cannot reproduce are listed. If a later moto implements TestEventPattern, its answers are
checked against the EventBridge verdict as well.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_template import REPO, TEMPLATE, event_patterns, load_template  # noqa: E402

PATTERN_FILE = REPO / "infra" / "patterns" / "pull-failure.json"
SAMPLES_DIR = REPO / "infra" / "patterns" / "samples"
BEGIN_MARK = "# BEGIN pattern infra/patterns/pull-failure.json"
END_MARK = "# END pattern"


# ---------------------------------------------------------------------------
# Reference matcher (EventBridge semantics, for the operators this project uses)
# ---------------------------------------------------------------------------

class UnsupportedPattern(Exception):
    pass


def flatten(event: Any, *, moto_quirks: bool = False) -> dict[tuple[str, ...], list[Any]]:
    """Map every leaf path to the list of values found there.

    EventBridge flattens arrays: an array of scalars gives several values for one path, and
    the fields of objects inside an array are reachable under the array's path
    (detail.containers[].reason -> ("detail", "containers", "reason")).
    With moto_quirks, arrays are leaves: their scalar items count, their objects do not.
    """
    out: dict[tuple[str, ...], list[Any]] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + (k,))
        elif isinstance(node, list):
            if moto_quirks:
                out.setdefault(path, []).extend(
                    x for x in node if not isinstance(x, (dict, list))
                )
            else:
                for item in node:
                    walk(item, path)
        else:
            out.setdefault(path, []).append(node)

    walk(event, ())
    return out


def wildcard_regex(pattern: str, *, moto_quirks: bool = False) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*\\":
            parts.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        parts.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.compile("".join(parts), 0 if moto_quirks else re.DOTALL)


def _same(a: Any, b: Any) -> bool:
    # JSON equality: true is not 1, 1 equals 1.0.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _value_filter(op: str, arg: Any, moto_quirks: bool) -> Callable[[Any], bool]:
    if op in ("prefix", "suffix"):
        if isinstance(arg, dict) and set(arg) == {"equals-ignore-case"}:
            s = arg["equals-ignore-case"].lower()
            return (lambda v: isinstance(v, str) and v.lower().startswith(s)) if op == "prefix" \
                else (lambda v: isinstance(v, str) and v.lower().endswith(s))
        if not isinstance(arg, str):
            raise UnsupportedPattern(f"{op}: {arg!r}")
        return (lambda v: isinstance(v, str) and v.startswith(arg)) if op == "prefix" \
            else (lambda v: isinstance(v, str) and v.endswith(arg))
    if op == "wildcard":
        if not isinstance(arg, str):
            raise UnsupportedPattern(f"wildcard: {arg!r}")
        rx = wildcard_regex(arg, moto_quirks=moto_quirks)
        return lambda v: isinstance(v, str) and rx.fullmatch(v) is not None
    if op == "equals-ignore-case":
        if not isinstance(arg, str):
            raise UnsupportedPattern(f"equals-ignore-case: {arg!r}")
        return lambda v: isinstance(v, str) and v.lower() == arg.lower()
    raise UnsupportedPattern(
        f"operator {op!r}: teach infra/check-pattern.py its EventBridge semantics first"
    )


def field_matches(values: list[Any] | None, filters: list[Any], moto_quirks: bool) -> bool:
    for f in filters:
        if isinstance(f, dict):
            if len(f) != 1:
                raise UnsupportedPattern(f"filter with several operators: {f!r}")
            (op, arg), = f.items()
            if op == "exists":
                if bool(values) == bool(arg):
                    return True
                continue
            if op == "anything-but":
                if isinstance(arg, (dict, list)):
                    raise UnsupportedPattern(f"anything-but: {arg!r}")
                if values and not any(_same(v, arg) for v in values):
                    return True
                continue
            test = _value_filter(op, arg, moto_quirks)
            if values and any(test(v) for v in values):
                return True
        elif isinstance(f, (str, int, float, bool)) or f is None:
            if values and any(_same(v, f) for v in values):
                return True
        else:
            raise UnsupportedPattern(f"filter {f!r}")
    return False


def matches(pattern: dict[str, Any], event: dict[str, Any], *, moto_quirks: bool = False) -> bool:
    flat = flatten(event, moto_quirks=moto_quirks)

    def node_matches(node: dict[str, Any], prefix: tuple[str, ...]) -> bool:
        for key, value in node.items():
            if key == "$or":
                if not isinstance(value, list) or len(value) < 2:
                    raise UnsupportedPattern("$or needs a list of at least two patterns")
                ok = any(node_matches(alt, prefix) for alt in value)
            elif isinstance(value, dict):
                ok = node_matches(value, prefix + (key,))
            elif isinstance(value, list):
                ok = field_matches(flat.get(prefix + (key,)), value, moto_quirks)
            else:
                raise UnsupportedPattern(f"{'.'.join(prefix + (key,))}: values must be in a list")
            if not ok:
                return False
        return True

    return node_matches(pattern, ())


# ---------------------------------------------------------------------------
# template.yaml <-> pattern file
# ---------------------------------------------------------------------------

def pattern_block(pattern_text: str, indent: str, key: str = "Pattern") -> list[str]:
    body = [indent + key + ":"]
    body += [indent + "  " + line if line else "" for line in pattern_text.rstrip("\n").split("\n")]
    return body


def fix_template() -> None:
    for path in (TEMPLATE, REPO / "infra" / "member-account.yaml"):
        lines = path.read_text(encoding="utf-8").split("\n")
        starts = [i for i, l in enumerate(lines) if l.strip() == BEGIN_MARK]
        ends = [i for i, l in enumerate(lines) if l.strip() == END_MARK]
        if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
            sys.exit(f"{path.name}: expected one '{BEGIN_MARK}' ... '{END_MARK}' block")
        start, end = starts[0], ends[0]
        indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
        key = lines[start + 1].strip().rstrip(":")  # Pattern (SAM) or EventPattern (AWS::Events::Rule)
        block = pattern_block(PATTERN_FILE.read_text(encoding="utf-8"), indent, key)
        if key == "EventPattern":  # this template indents the JSON further
            block = [block[0]] + ["    " + l if l else l for l in block[1:]]
        new = lines[: start + 1] + block + lines[end:]
        path.write_text("\n".join(new), encoding="utf-8")
        print(f"rewrote the pattern block in {path.relative_to(REPO)} from {PATTERN_FILE.relative_to(REPO)}")


def check_template(pattern: dict[str, Any]) -> list[str]:
    errors = []
    found = event_patterns(load_template())
    if len(found) != 1:
        errors.append(f"template.yaml: expected exactly one EventBridge pattern, found {[n for n, _ in found]}")
    for name, tpl_pattern in found:
        if tpl_pattern != pattern:
            errors.append(
                f"template.yaml {name}: pattern differs from {PATTERN_FILE.relative_to(REPO)} "
                "(run `python3 infra/check-pattern.py --fix`)"
            )
        else:
            print(f"ok   template.yaml {name} pattern == {PATTERN_FILE.relative_to(REPO)}")
    # The member-account template forwards exactly the events the central rule matches.
    member = REPO / "infra" / "member-account.yaml"
    for name, tpl_pattern in event_patterns(load_template(member)):
        if tpl_pattern != pattern:
            errors.append(f"{member.relative_to(REPO)} {name}: pattern differs from {PATTERN_FILE.relative_to(REPO)}")
        else:
            print(f"ok   {member.relative_to(REPO)} {name} pattern == {PATTERN_FILE.relative_to(REPO)}")
    return errors


# ---------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------

def load_samples() -> list[tuple[str, bool, dict[str, Any]]]:
    samples = []
    for path in sorted(SAMPLES_DIR.glob("*.json")):
        if path.name.startswith("match-"):
            expect = True
        elif path.name.startswith("nomatch-"):
            expect = False
        else:
            sys.exit(f"{path.relative_to(REPO)}: sample names start with match- or nomatch-")
        samples.append((path.name, expect, json.loads(path.read_text(encoding="utf-8"))))
    if not any(e for _, e, _ in samples) or all(e for _, e, _ in samples):
        sys.exit(f"{SAMPLES_DIR.relative_to(REPO)}: need both match-*.json and nomatch-*.json samples")
    return samples


def check_samples(pattern: dict[str, Any], samples: list[tuple[str, bool, dict[str, Any]]]) -> list[str]:
    errors = []
    for name, expect, event in samples:
        got = matches(pattern, event)
        status = "ok  " if got == expect else "FAIL"
        print(f"{status} reference matcher: {name}: {'match' if got else 'no match'}")
        if got != expect:
            errors.append(f"{name}: reference matcher says {'match' if got else 'no match'}")
    return errors


# ---------------------------------------------------------------------------
# moto cross-check
# ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("moto_server")
    if not exe:
        sys.exit("moto_server is not on PATH (pip install 'moto[server]'), or pass --no-moto")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"moto_server exited early with code {proc.returncode}")
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    sys.exit("moto_server did not answer within 30 s")


def check_moto(pattern: dict[str, Any], samples: list[tuple[str, bool, dict[str, Any]]]) -> list[str]:
    import boto3  # installed with moto
    import botocore.exceptions

    errors: list[str] = []
    proc, url = start_moto()
    try:
        kw = dict(
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        events = boto3.client("events", **kw)
        sqs = boto3.client("sqs", **kw)
        queue_url = sqs.create_queue(QueueName="pull-failure-pattern")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        # PutRule makes moto parse and validate the pattern.
        events.put_rule(Name="pulldoctor-pull-failure", EventPattern=json.dumps(pattern))
        events.put_targets(Rule="pulldoctor-pull-failure", Targets=[{"Id": "q", "Arn": queue_arn}])

        test_event_pattern_works = True
        differs_from_eventbridge = []
        for name, expect, event in samples:
            # 1. TestEventPattern, if this moto implements it.
            if test_event_pattern_works:
                try:
                    result = events.test_event_pattern(
                        EventPattern=json.dumps(pattern), Event=json.dumps(event)
                    ).get("Result")
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, KeyError):
                    result = None
                if result is None:
                    test_event_pattern_works = False
                    print("note moto: TestEventPattern is not implemented; using PutRule + PutEvents -> SQS")
                elif result != expect:
                    errors.append(f"{name}: moto TestEventPattern says {result}")
                    print(f"FAIL moto TestEventPattern: {name}: {result}")
                else:
                    print(f"ok   moto TestEventPattern: {name}: {result}")

            # 2. PutEvents through the rule on the default bus.
            entry = {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event.get("resources", []),
            }
            resp = events.put_events(Entries=[entry])
            if resp.get("FailedEntryCount"):
                errors.append(f"{name}: moto PutEvents rejected the event: {resp['Entries']}")
                continue
            msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            for m in msgs:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            delivered = bool(msgs)
            predicted = matches(pattern, event, moto_quirks=True)
            note = ""
            if predicted != expect:
                differs_from_eventbridge.append(name)
                note = f" (EventBridge: {'match' if expect else 'no match'}; known moto limitation)"
            if delivered != predicted:
                errors.append(
                    f"{name}: moto {'delivered' if delivered else 'did not deliver'} it, "
                    f"the reference matcher with moto's quirks predicted the opposite"
                )
                print(f"FAIL moto PutEvents: {name}: {'delivered' if delivered else 'not delivered'}")
            else:
                print(f"ok   moto PutEvents: {name}: {'delivered' if delivered else 'not delivered'}{note}")
        if differs_from_eventbridge:
            print(
                f"note moto cannot reproduce EventBridge's verdict for {len(differs_from_eventbridge)} "
                f"sample(s) (arrays of objects, '*' across newlines): {', '.join(differs_from_eventbridge)}"
            )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return errors


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fix", action="store_true", help="copy the pattern file into template.yaml")
    ap.add_argument("--no-moto", action="store_true", help="skip the moto cross-check")
    args = ap.parse_args()

    pattern = json.loads(PATTERN_FILE.read_text(encoding="utf-8"))
    if args.fix:
        fix_template()

    errors = check_template(pattern)
    samples = load_samples()
    try:
        errors += check_samples(pattern, samples)
    except UnsupportedPattern as e:
        errors.append(f"{PATTERN_FILE.relative_to(REPO)}: {e}")
    if not args.no_moto and not errors:
        errors += check_moto(pattern, samples)

    if errors:
        print("\ncheck-pattern: FAILED", file=sys.stderr)
        for e in errors:
            print(f"  - {e}", file=sys.stderr)
        return 1
    print(f"check-pattern: ok ({len(samples)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
