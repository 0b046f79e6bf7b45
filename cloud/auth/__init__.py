"""Access control: principals, API keys, bearer tokens, row-level security scoping."""

from cloud.auth.principal import Principal, Role

__all__ = ["Principal", "Role"]
