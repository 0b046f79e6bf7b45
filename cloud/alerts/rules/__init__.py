"""Pure rule cores: rows in, :class:`cloud.alerts.model.Condition` values out (no I/O)."""
