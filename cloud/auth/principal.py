"""Who is calling: the principal every API request and database session is scoped to.

Roles (docs/security.md):
- ``brand``: a brand owner's staff; sees the whole tenant (its products wherever they are
  and every site that holds them).
- ``distributor``: a distributor's staff; sees only the sites whose ``distributor_id`` is
  theirs (and what those sites hold, measured and scanned).
- ``device``: an edge gateway; may only publish under its own topics (broker ACL).
- ``public``: anyone (consumer scans); rate-limited, no tenant data beyond a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Principal", "Role"]


class Role(StrEnum):
    BRAND = "brand"
    DISTRIBUTOR = "distributor"
    DEVICE = "device"
    PUBLIC = "public"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``tenant_id`` is None only for ``public``."""

    subject: str
    role: Role
    tenant_id: str | None = None
    distributor_id: str | None = None
    device_id: str | None = None

    def __post_init__(self) -> None:
        if self.role is not Role.PUBLIC and not self.tenant_id:
            raise ValueError(f"a {self.role} principal needs a tenant")
        if self.role is Role.DISTRIBUTOR and not self.distributor_id:
            raise ValueError("a distributor principal needs a distributor_id")
        if self.role is Role.DEVICE and not self.device_id:
            raise ValueError("a device principal needs a device_id")

    def sees_tenant(self, tenant_id: str) -> bool:
        return self.tenant_id == tenant_id
