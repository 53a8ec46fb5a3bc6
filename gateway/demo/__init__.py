"""The demo site ``consent-gateway demo`` serves behind the gateway (``site``)."""
