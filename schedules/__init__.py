"""Pure calendar logic: iCal bytes -> shifts, overrides and handoffs layered on top,
who is on call at ``t``, coverage gaps and iCal export. No I/O here; fetching calendars
lives in ``integrations``."""
