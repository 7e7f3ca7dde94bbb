"""mkdrill: chaos and rollback drills proving the AssistSupport Draft flow survives MemoryKernel faults."""

from runner._imports import skip_httpx_command_line

__version__ = "0.1.0"

skip_httpx_command_line()
