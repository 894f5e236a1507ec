"""The security tests' fixtures live in tests/support (shared with the lifecycle and API tests)
and are registered by tests/conftest.py; this folder adds none of its own."""
