"""The operator's admin page under ``<api_prefix>/admin``: how visitors choose, the unknown
cookies (classified with one click), the analytics outbox, pages sent without the banner and
a records search. Closed unless ``admin_token`` is set; ``gateway.app`` builds it and the
consent API mounts it."""
