"""One small HTTP/1.1 toolkit for the reference services and the fault responder.

    wire     request heads parsed as hyper (httparse) parses them, response heads written as
             hyper writes them: the bytes a client of the real MemoryKernel sees
    server   a threaded server: keep-alive, body limits, `Expect: 100-continue`, worker slots
             (a tokio runtime's blocking behaviour), connection tracking and a bounded stop
    client   a keep-alive client with one deadline per request and `abort()` from any thread

The reference MemoryKernel, the reference AssistSupport consumer (its reqwest look-alike is
built on `client`) and the fault responder all serve and call through these modules; nothing
here knows any of them.
"""
