"""Tencent adapters: an ILVB recorder simulator, and a real Tencent Cloud VOD client.

Two halves, both answering the commands of :class:`recstate.machines.tencent.TencentRecorder`:

- :class:`TencentSimulator` plays the Tencent recording server and the client's A/V upstream
  in the runtime's (virtual) time, faithful to ``vendor-docs/002_1767472c9d961129.txt`` and
  ``vendor-docs/004_b06b9b45c1601df1.txt``: one recording per user at a time (002 §2
  "录制同一个用户同一时刻只能发起一路录制请求", else 30000415, 004 §5); a new MP4 every 90
  minutes and one file ID per file at stop (002 §3, §6 (1)); 1 minute without data closes the
  recording with what was recorded up to the client's exit (002 §6 (2)); a stop for a
  recording that is already closed answers 30000412 (004 §5). It injects faults: error codes,
  dropped and duplicated callbacks, delays, client crashes.
- :class:`VodClient` calls Tencent Cloud API 3.0 ``SearchMedia`` (version 2018-07-17), where
  the recordings are stored (002 §4: "录制的视频将存储在点播服务中"), signing each request with
  TC3-HMAC-SHA256 (:func:`tc3_sign`, a pure function); :class:`VodAdapter` answers the
  machine's ``SearchMedia`` command with it, blocking, for synchronous embedding.
  :class:`AsyncVodClient` and :class:`AsyncVodAdapter` are the same on asyncio: the call
  runs beside ``await runtime.run()`` and its answer comes back through ``runtime.submit``.

:func:`run_scenario` runs a named scenario end to end on a manual clock and writes the trace.

Modules: ``simulator`` (the server), ``scenarios`` (the named runs), ``vod`` (TC3 signing,
the VOD clients and their adapters).
"""

from recstate.adapters.tencent.scenarios import SCENARIOS, run_scenario
from recstate.adapters.tencent.simulator import (
    ALREADY_RECORDING,
    ALREADY_STOPPED,
    CALLBACKS,
    TencentSimulator,
)

#: The VOD client needs httpx (the ``vod`` extra): imported when first asked for, so that the
#: simulator and ``recstate simulate`` work without it.
_VOD = frozenset({"AsyncVodAdapter", "AsyncVodClient", "Tc3Signature", "VodAdapter",
                  "VodClient", "VodError", "tc3_sign"})


def __getattr__(name: str) -> object:
    if name in _VOD:
        from recstate.adapters.tencent import vod

        return getattr(vod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "ALREADY_RECORDING",
    "ALREADY_STOPPED",
    "CALLBACKS",
    "SCENARIOS",
    "AsyncVodAdapter",
    "AsyncVodClient",
    "Tc3Signature",
    "TencentSimulator",
    "VodAdapter",
    "VodClient",
    "VodError",
    "run_scenario",
    "tc3_sign",
]
