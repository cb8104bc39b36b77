"""Choose the tenant whose database tenant models use."""

from contextlib import contextmanager
from contextvars import ContextVar

_current_tenant: ContextVar[str | None] = ContextVar("current_tenant", default=None)


def current_tenant_alias():
    """Return the database alias of the active tenant, or None outside ``tenant()``."""
    name = _current_tenant.get()
    return f"tenant_{name}" if name else None


@contextmanager
def tenant(name):
    """Route tenant models to ``tenant_<name>`` while active."""
    token = _current_tenant.set(name)
    try:
        yield
    finally:
        _current_tenant.reset(token)
