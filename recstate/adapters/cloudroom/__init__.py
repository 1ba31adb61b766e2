"""CloudRoom adapters: a local recording SDK simulator, and a real uploader.

- :class:`CloudRoomSimulator` plays the SDK's local mixers in the runtime's (virtual) time,
  faithful to ``vendor-docs/003_1acf1effcbe0f83e.txt``: LocMixerOutputInfo CREATED, then WRITING
  every N seconds with a growing duration and size, CLOSED when an output is removed or its
  mixer destroyed, ERR 901 at 8 hours; numbered by the mixer's platform. Faults: an output
  error code, a full disk, a crash, a slow or failing upload.
- :class:`Uploader` / :class:`AsyncUploader` PUT a recorded file to an HTTP server or an
  S3-compatible store (AWS Signature Version 4, :func:`sigv4_sign`) with ``httpx``;
  :class:`UploadAdapter` / :class:`AsyncUploadAdapter` answer the machine's
  ``UploadRecordFile`` command with them.

:func:`run_scenario` runs a named scenario (``recstate simulate cloudroom NAME``).
"""

from recstate.adapters.cloudroom.scenarios import SCENARIO_HOOKS, SCENARIOS, run_scenario
from recstate.adapters.cloudroom.simulator import EIGHT_HOURS, CloudRoomSimulator
from recstate.adapters.cloudroom.upload import (
    AsyncUploadAdapter,
    AsyncUploader,
    S3Credentials,
    SigV4,
    UploadAdapter,
    Uploader,
    UploadError,
    sigv4_sign,
    uri_encode,
)

__all__ = [
    "EIGHT_HOURS",
    "SCENARIOS",
    "SCENARIO_HOOKS",
    "AsyncUploadAdapter",
    "AsyncUploader",
    "CloudRoomSimulator",
    "S3Credentials",
    "SigV4",
    "UploadAdapter",
    "UploadError",
    "Uploader",
    "run_scenario",
    "sigv4_sign",
    "uri_encode",
]
