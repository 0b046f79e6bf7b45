"""Versioned SQL migrations, applied in order by :func:`cloud.migrate.migrate`."""
