-- missing_webhooks: accepted ledger messages without any status webhook, sent more than
-- $no_webhook_after_hours before $as_of. A TTL that passed (expired = true) explains some; the
-- rest point at lost webhooks or a landing gap.
--
-- Inputs: table message_status. Parameters: $as_of, $no_webhook_after_hours.
CREATE OR REPLACE TABLE missing_webhooks AS
SELECT
    message_key,
    wamid,
    campaign_id,
    arm,
    recipient,
    template_name,
    sent_at,
    (epoch(CAST($as_of AS TIMESTAMPTZ)) - epoch(sent_at)) / 3600.0 AS hours_since_send,
    expired
FROM message_status
WHERE in_ledger
    AND ledger_state = 'accepted'
    AND NOT has_webhook
    AND sent_at + to_seconds(CAST($no_webhook_after_hours AS DOUBLE) * 3600)
        < CAST($as_of AS TIMESTAMPTZ)
ORDER BY campaign_id, sent_at, message_key
