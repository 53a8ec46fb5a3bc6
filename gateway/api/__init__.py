"""The endpoints under the API prefix (``/_consent``): the visitor's state, the banner's
assets, the cookie declaration and metrics (``routes``); the analytics collection endpoints
are mounted there by ``gateway.app``."""
