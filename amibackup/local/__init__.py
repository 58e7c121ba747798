"""The embedded default: a moto server on loopback playing AWS, a demo group, the engine."""
