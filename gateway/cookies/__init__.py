"""Cookies: ``Cookie`` and ``Set-Cookie`` syntax (``parse``), the rule database and its
classifier (``rules``, ``policy``), what passes each way (``enforce``), the site's cookie
declaration (``declaration``), the count of unclassified names (``inventory``) and the Open
Cookie Database importer (``ocd``)."""
