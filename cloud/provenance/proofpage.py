"""The public proof page of one ledger entry: what is proven, in plain words, and how
anyone can check it (``channeltrace ledger verify``, the chain explorer).

Only hashes, the checkpoint and its anchor are shown — the same as the public ledger
routes — never the event (it may name other units and the brand's business). The JSON
form is the public proof bundle (:func:`ledger.service.publish.build_public_bundle`), which the
verifier accepts.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from cloud.provenance.i18n import HTML_LANG, Formatter, render, translations
from ledger.errors import LedgerError, TreeError
from ledger.service.pg_store import PgLog
from ledger.service.publish import NotAnchoredError, build_public_bundle
from ledger.service.records import anchor_covering

__all__ = ["ProofView", "log_vkey", "proof_view", "render_proof"]

_logger = logging.getLogger(__name__)

_SWITCH = {"en": "中文", "zh": "English"}


@dataclass(frozen=True, slots=True)
class ProofView:
    index: int
    leaf_hash: str
    bundle: dict[str, Any] | None = None  # None: not anchored yet
    size: int | None = None
    root: str | None = None
    tx: str | None = None
    block: int | None = None
    chain_id: int | None = None
    anchored_at: datetime | None = None


def proof_view(conn: psycopg.Connection[Any], index: int) -> ProofView | None:
    """The proof of entry ``index`` (``None``: no such entry)."""
    try:
        entry = PgLog(conn).entry(index)
    except TreeError:
        return None
    leaf = entry.leaf_hash.hex()
    try:
        bundle = build_public_bundle(conn, index).to_dict()
    except NotAnchoredError:
        return ProofView(index, leaf)
    anchor = anchor_covering(conn, index)
    if anchor is None:  # settled between the two reads: the next look shows it
        return ProofView(index, leaf)
    return ProofView(
        index, leaf, bundle, anchor.size, anchor.root.hex(), "0x" + anchor.tx_hash.hex(),
        anchor.block_number, anchor.chain_id, anchor.settled_at or anchor.created_at,
    )  # fmt: skip


@functools.lru_cache(maxsize=1)
def log_vkey() -> str | None:
    """The log's verifier key, when this process is configured with the log key."""
    from cloud.settings import Settings
    from ledger.service.keys import load_log_key

    try:
        return load_log_key(Settings()).verifier().to_vkey()
    except (LedgerError, ValueError) as exc:
        _logger.info("the proof page names no log key: %s", exc)
        return None


def render_proof(
    view: ProofView, lang: str, *, timezone: str, explorer_tx_url: str | None
) -> str:
    explorer = None
    if explorer_tx_url and view.tx:
        explorer = explorer_tx_url.replace("{tx}", view.tx)
    sections = []
    for code in ("zh", "en") if lang == "en" else ("en", "zh"):
        fmt = Formatter.of(code, timezone)
        other = "zh" if code == "en" else "en"
        sections.append(
            render(
                "proof.html", code, default=code == lang, other=other,
                other_html_lang=HTML_LANG[other], switch_label=_SWITCH[code],
                anchored=view.bundle is not None, index=fmt.number(view.index),
                leaf_hash=view.leaf_hash, size=None if view.size is None
                else fmt.number(view.size), root=view.root, tx=view.tx, block=view.block,
                chain_id=view.chain_id, anchored_at=fmt.date_time(view.anchored_at),
                explorer=explorer, vkey=log_vkey(), json_url=f"/proof/{view.index}?format=json",
            )
        )
    title = translations(lang).gettext("Proof of one step")
    return render("_base.html", lang, title=title, body="".join(sections))
