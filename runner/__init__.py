"""mkdrill: chaos and rollback drills proving the AssistSupport Draft flow survives MemoryKernel faults."""

__version__ = "0.1.0"
