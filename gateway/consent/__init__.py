"""The visitor's consent, with no I/O on the request path: the four categories and the
consent state (``state``), the signed consent cookie (``codec``), where the visitor is and
what its law sets before a choice (``jurisdiction``), bots (``agents``), the choice a site's
own CMP stored in its cookies (``adapters``), IAB TCF TC strings (``tcf``) and GPP strings
(``gpp``), and the state each request gets (``policy``)."""
