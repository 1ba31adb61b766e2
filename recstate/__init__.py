"""recstate: explicit, event-driven state machines for call and recording lifecycles."""

from importlib import metadata as _metadata

from recstate.answers import Answer
from recstate.clock import Clock, ManualClock, SystemClock
from recstate.errors import (
    DefinitionError,
    HandlingError,
    RecstateError,
    TraceError,
    UnknownEventError,
    VendorError,
    Violation,
)
from recstate.events import Command, Event, TimerEvent, command, event, parse_event
from recstate.machine import Machine, ignore, on, state
from recstate.recording import RecordingFile
from recstate.runtime import Runtime
from recstate.session import Session
from recstate.trace import Record, TraceReader, TraceWriter
from recstate.vendors import Vendor, get_vendor

try:
    __version__ = _metadata.version("recstate")
except _metadata.PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Answer",
    "Clock",
    "Command",
    "DefinitionError",
    "Event",
    "HandlingError",
    "Machine",
    "ManualClock",
    "Record",
    "RecordingFile",
    "RecstateError",
    "Runtime",
    "Session",
    "SystemClock",
    "TimerEvent",
    "TraceError",
    "TraceReader",
    "TraceWriter",
    "UnknownEventError",
    "Vendor",
    "VendorError",
    "Violation",
    "__version__",
    "command",
    "event",
    "get_vendor",
    "ignore",
    "on",
    "parse_event",
    "state",
]
