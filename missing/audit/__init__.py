"""Audit: the access log and request context of the change history (`access_log`),
refused requests (`refusals`) and retention (`retention`, `apply_retention`)."""
