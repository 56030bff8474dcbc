"""Schemathesis hooks for Warden's API fuzzing (test/fuzz.int.test.ts).

- The tar upload's media type is sent as the raw bytes the fuzzer generates (schemathesis knows no
  serializer for application/x-tar).
- Some answers are endless by design, like `docker logs -f` and `docker events`: the live event stream,
  a sandbox's output stream, and its log with follow=true. A fuzzed id that happens to be a prefix of a
  sandbox the fuzzer made itself (a one-character id such as `8`) found a live sandbox, and the run then
  waited out its whole request timeout (300 s, sized for sandbox creation on a loaded machine) on one
  idle stream. So: the two event streams are read for at most ENDLESS_SECONDS (schemathesis then judges
  the events it got, a stream cut short is no failure), and the log is asked for without follow
  (test/server.int.test.ts covers following it).
"""
import schemathesis
from schemathesis.transport.requests import binary_serializer

ENDLESS_SECONDS = 10
ENDLESS_STREAMS = {("GET", "/api/v1/events"), ("GET", "/api/v1/sandboxes/{id}/output")}


@schemathesis.serializer("application/x-tar")
def tar_serializer(ctx, value):
    return binary_serializer(ctx, value)


@schemathesis.hook
def before_call(context, case, kwargs):
    op = case.operation
    if (op.method.upper(), op.path) in ENDLESS_STREAMS:
        kwargs["timeout"] = ENDLESS_SECONDS
    if op.path.endswith("/logs") and isinstance(case.query, dict) and case.query.get("follow") == "true":
        case.query["follow"] = "false"
