"""One module per analytics provider: what its client sends, and how each hit is redacted
by consent before it is forwarded."""
