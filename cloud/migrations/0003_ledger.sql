-- Provenance ledger (docs/ledger.md): an RFC 9162 Merkle log of custody events, its
-- perfect-subtree node hashes, signed checkpoints and their anchors on an Ethereum chain.
-- Rows here are append-only by contract: only ledger.pg_store appends, and the audit job
-- (ledger.audit) reports any row that was edited, deleted, reordered or inserted.

-- One row per leaf. canonical holds the exact RFC 8785 (JCS) bytes that were hashed:
-- leaf_hash = SHA-256(0x00 || canonical). event is the same JSON, queryable.
CREATE TABLE ledger_entries (
    idx          bigint PRIMARY KEY CHECK (idx >= 0),
    leaf_hash    bytea NOT NULL CHECK (octet_length(leaf_hash) = 32),
    canonical    bytea NOT NULL,
    event        jsonb NOT NULL,
    appended_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_leaf_hash ON ledger_entries (leaf_hash);

-- Perfect subtree hashes: (level, idx) is the root of the 2^level leaves from idx * 2^level.
-- Written once by the append that completes the subtree, never updated.
CREATE TABLE ledger_nodes (
    level  smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx    bigint NOT NULL CHECK (idx >= 0),
    hash   bytea NOT NULL CHECK (octet_length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- The tree head: one row, locked FOR UPDATE by every append to serialise appenders.
CREATE TABLE ledger_head (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    size        bigint NOT NULL CHECK (size >= 0),
    root        bytea NOT NULL CHECK (octet_length(root) = 32),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ledger_head (id, size, root)
VALUES (true, 0, '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

-- Signed C2SP tlog-checkpoint notes, one per tree size.
CREATE TABLE ledger_checkpoints (
    size        bigint PRIMARY KEY CHECK (size > 0),
    root        bytea NOT NULL CHECK (octet_length(root) = 32),
    note        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Anchor transactions. A row is written as 'pending' with its nonce, hash and signed raw
-- transaction BEFORE the transaction is broadcast, so that a crash at any point resumes
-- by looking the transaction up on chain instead of sending a second anchor.
CREATE TABLE ledger_anchors (
    id            bigserial PRIMARY KEY,
    size          bigint NOT NULL REFERENCES ledger_checkpoints (size),
    root          bytea NOT NULL CHECK (octet_length(root) = 32),
    chain_id      bigint NOT NULL,
    contract      text NOT NULL,
    sender        text NOT NULL,
    nonce         bigint NOT NULL CHECK (nonce >= 0),
    tx_hash       bytea NOT NULL CHECK (octet_length(tx_hash) = 32),
    raw_tx        bytea NOT NULL,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'confirmed', 'failed')),
    block_number  bigint,
    gas_used      bigint,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    settled_at    timestamptz,
    UNIQUE (chain_id, tx_hash)
);
-- At most one unsettled anchor per chain and contract, and each tree size anchored once.
CREATE UNIQUE INDEX ledger_anchors_one_pending ON ledger_anchors (chain_id, contract)
    WHERE status = 'pending';
CREATE UNIQUE INDEX ledger_anchors_once ON ledger_anchors (chain_id, contract, size)
    WHERE status <> 'failed';
