"""What several test folders share: small apps, loopback servers, stand-in providers, test
documents and data readers. Test modules import from here, never from one another or from
``benchmarks/``; the benchmarks may import from here."""
