"""Area units used in every table: 1 ha = 10,000 m² = 15 亩 (mu); 1 万亩 = 10,000 亩."""

from __future__ import annotations

M2_PER_HA = 10_000.0
MU_PER_HA = 15.0
WAN = 10_000.0
