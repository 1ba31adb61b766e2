"""recstate: explicit, event-driven state machines for call and recording lifecycles."""

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

__version__ = "0.1.0"

__all__ = [
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
