-- reconciliation: per campaign, the ledger against the webhooks, plus one row (campaign_id
-- empty) for webhooks whose wamid is in no ledger.
--
--   accepted = delivered + failed + expired + pending        (balanced says it holds)
--   counts as defined in message_counts.sql; no_webhook_overdue messages are listed in
--   missing_webhooks
--   unknown_wamids, unknown_wamid_events: wamids in no ledger (listed in unknown_wamids); a
--   send whose outcome is `unknown` in the ledger is a likely source of them
--
-- Inputs: tables message_counts and message_status (for wamids in no ledger).
CREATE OR REPLACE TABLE reconciliation AS
WITH ledger AS (
    SELECT
        campaign_id,
        sum(ledger_messages) AS ledger_messages,
        sum(accepted) AS accepted,
        sum(delivered) AS delivered,
        sum(failed) AS failed,
        sum(expired) AS expired,
        sum(pending) AS pending,
        sum(with_webhook) AS with_webhook,
        sum(without_webhook) AS without_webhook,
        sum(no_webhook_overdue) AS no_webhook_overdue,
        sum(webhooks_not_accepted) AS webhooks_not_accepted,
        sum(rejected) AS rejected,
        sum(send_outcome_unknown) AS send_outcome_unknown,
        sum(webhook_events) AS webhook_events
    FROM message_counts
    GROUP BY campaign_id
),
unknown AS (
    SELECT
        CAST(NULL AS VARCHAR) AS campaign_id,
        count(*) AS unknown_wamids,
        sum(webhook_events) AS unknown_wamid_events
    FROM message_status
    WHERE NOT in_ledger
    HAVING count(*) > 0
)
SELECT
    campaign_id,
    CAST(ledger_messages AS BIGINT) AS ledger_messages,
    CAST(accepted AS BIGINT) AS accepted,
    CAST(delivered AS BIGINT) AS delivered,
    CAST(failed AS BIGINT) AS failed,
    CAST(expired AS BIGINT) AS expired,
    CAST(pending AS BIGINT) AS pending,
    accepted = delivered + failed + expired + pending AS balanced,
    CAST(with_webhook AS BIGINT) AS with_webhook,
    CAST(without_webhook AS BIGINT) AS without_webhook,
    CAST(no_webhook_overdue AS BIGINT) AS no_webhook_overdue,
    CAST(webhooks_not_accepted AS BIGINT) AS webhooks_not_accepted,
    CAST(rejected AS BIGINT) AS rejected,
    CAST(send_outcome_unknown AS BIGINT) AS send_outcome_unknown,
    CAST(webhook_events AS BIGINT) AS webhook_events,
    CAST(0 AS BIGINT) AS unknown_wamids
FROM ledger
UNION ALL
SELECT
    campaign_id,
    0, 0, 0, 0, 0, 0, TRUE, 0, 0, 0, 0, 0, 0,
    CAST(unknown_wamid_events AS BIGINT),
    CAST(unknown_wamids AS BIGINT)
FROM unknown
ORDER BY campaign_id NULLS LAST
