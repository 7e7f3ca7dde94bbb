"""Tests of the reference services (MemoryKernel, AssistSupport consumer, fault responder)."""
