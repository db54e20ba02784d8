"""The real-registry fixtures for the tests of this package (other packages import them the same way)."""

from tests.registry.fixtures import local_registry, token_registry

__all__ = ["local_registry", "token_registry"]
