-- An export's proofs read each archive chain from a carried row to the next signed
-- checkpoint (hub/replay_bundle.py): by chain and place, not a scan of the archive.
CREATE INDEX event_archive_chain_seq ON event_archive (chain, chain_seq) WHERE chain IS NOT NULL;
