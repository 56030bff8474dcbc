"""Schemathesis hooks for Warden's API fuzzing (test/fuzz.int.test.ts): the tar upload's media type
is sent as the raw bytes the fuzzer generates (schemathesis knows no serializer for application/x-tar)."""
import schemathesis
from schemathesis.transport.requests import binary_serializer


@schemathesis.serializer("application/x-tar")
def tar_serializer(ctx, value):
    return binary_serializer(ctx, value)
