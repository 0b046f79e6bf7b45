"""The ledger's I/O around the pure core (:mod:`ledger`).

- :mod:`ledger.service.pg_store`, :mod:`ledger.service.records`: the log, its checkpoints
  and anchors in PostgreSQL;
- :mod:`ledger.service.jobs`, :mod:`ledger.service.anchor_job`: making checkpoints,
  anchoring them (crash-safe), auditing;
- :mod:`ledger.service.anchor`: the chain over web3.py;
- :mod:`ledger.service.publish`, :mod:`ledger.service.api`: proof bundles and their routes;
- :mod:`ledger.service.cli`: ``channeltrace ledger …``;
- :mod:`ledger.service.settings`, :mod:`ledger.service.keys`: configuration and key files.
"""
