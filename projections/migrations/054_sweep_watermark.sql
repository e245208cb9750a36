-- The sweep's clock as an event-time watermark (HUB_SWEEP_CLOCK=watermark; the default
-- sweeps at the wall clock and writes none of this): for benchmarks and tests that publish
-- a simulated city in order of its own time and compare the notices with the simulator's
-- truth. Kept here, so it survives a SIGKILL and every worker sweeps by the same one.
--
-- sweep_partition_time: per inbound partition, the latest event time applied from it
-- (written with the batch's positions, in its transaction).
CREATE TABLE sweep_partition_time (
    consumer  text NOT NULL,
    topic     text NOT NULL,
    partition int NOT NULL,
    latest    timestamptz NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);
-- sweep_watermark: the watermark the sweeps raise notices by; it only moves forward.
CREATE TABLE sweep_watermark (
    consumer text PRIMARY KEY,
    at       timestamptz NOT NULL
);
-- The instant each notice was raised at by the sweep's clock (the wall clock, or the
-- watermark): a notice raised before it fell due would show here.
ALTER TABLE notice_claim ADD COLUMN swept_at timestamptz;
-- sweep_referral_sent: referral decisions a batch sent to the log (they join threads, or
-- split them), with the decision's time (the city case's opening: the join changes no
-- notice due before it); the watermark stays at or before it until the decision is read
-- back and applied (in resolution_decision).
CREATE TABLE sweep_referral_sent (
    consumer    text NOT NULL,
    decision_id text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (consumer, decision_id)
);
