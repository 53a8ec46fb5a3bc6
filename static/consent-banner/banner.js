/* consent-gateway banner: the script arrives with the banner work (static/consent-banner/README.md). */
