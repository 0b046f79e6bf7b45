"""Channel master data: distributors, sites, products, EPCIS mappings, their bulk import
and audit trail, and where a scan happened (GB/T 2260 regions, offline geocoding).

See docs/channel-setup.md for the brand manager's guide.
"""

from __future__ import annotations

__all__: list[str] = []
