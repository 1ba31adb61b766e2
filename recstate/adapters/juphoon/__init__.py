"""Juphoon adapters: a MediaChannel simulator, and a real Qiniu client for the recordings.

Both answer the commands of :class:`recstate.machines.juphoon.JuphoonChannel`:

- :class:`JuphoonSimulator` plays the JC SDK, the recording server and the Qiniu bucket in
  the runtime's (virtual) time, as ``vendor-docs/001_9e36cf2bf397b797.txt`` describes: join
  with record parameters reports Ready; ``enableRecord`` switches Ready <-> Running; each
  Running span lands in the bucket under its ``fileName``. It injects faults: a refused join,
  an enable whose property change never comes, a dropped ``onLeave``, a file that never
  appears in the bucket, out-of-order reports.
- :class:`QiniuClient` / :class:`AsyncQiniuClient` sign Qiniu requests as Qiniu documents
  them (:class:`QiniuMac`: upload token, ``QBox`` and ``Qiniu`` management tokens, private
  download URLs) and ``stat`` a file; :class:`QiniuAdapter` / :class:`AsyncQiniuAdapter`
  answer the machine's ``stat`` command with them.

:func:`run_scenario` runs a named scenario (:data:`SCENARIOS`) end to end and writes the trace.
"""

from recstate.adapters.juphoon.qiniu import (
    NOT_FOUND,
    AsyncQiniuAdapter,
    AsyncQiniuClient,
    QiniuAdapter,
    QiniuClient,
    QiniuError,
    QiniuMac,
    QiniuStat,
    encoded_entry_uri,
    private_download_url,
    upload_token,
    urlsafe_b64,
)
from recstate.adapters.juphoon.scenarios import SCENARIOS, run_scenario
from recstate.adapters.juphoon.simulator import CALLBACKS, COMMANDS, JuphoonSimulator

__all__ = [
    "CALLBACKS",
    "COMMANDS",
    "NOT_FOUND",
    "SCENARIOS",
    "AsyncQiniuAdapter",
    "AsyncQiniuClient",
    "JuphoonSimulator",
    "QiniuAdapter",
    "QiniuClient",
    "QiniuError",
    "QiniuMac",
    "QiniuStat",
    "encoded_entry_uri",
    "private_download_url",
    "run_scenario",
    "upload_token",
    "urlsafe_b64",
]
