"""The HTTP edge and the processes: app factory, routers, ack pages, settings, CLI,
RQ job entry points. Thin: parse, authorise, call the core, render."""
