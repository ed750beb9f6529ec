-- message_counts: the ledger's messages counted by outcome, per campaign, assigned arm, template
-- and recipient country: the cube the funnels and the reconciliation add up (one pass over
-- message_status instead of one per report).
--
--   ledger_messages  every ledger row; accepted = ledger state accepted (the API gave a wamid)
--   held             accepted, answered held_for_quality_assessment
--   rejected, send_outcome_unknown, not_sent (planned or in flight): the other ledger states
--   delivered        accepted and delivered (a read counts as delivered)
--   read             accepted and read
--   failed           accepted, final_status failed (never delivered)
--   failed_after_delivery  accepted, delivered, then a failed event
--   expired          accepted, final_status expired (TTL passed, no delivery)
--   pending          accepted, final_status sent or accepted (no outcome yet)
--   routed_mm / routed_cloud: route taken, from the webhook's pricing category
--   with_webhook / without_webhook: accepted messages with / without any status event
--   no_webhook_overdue: accepted, no status event, sent more than $no_webhook_after_hours
--                    before $as_of
--   webhooks_not_accepted: ledger messages not in state accepted that have status events
--   webhook_events   status events received for these messages, duplicates included
--
-- Inputs: table message_status. Parameters: $as_of, $no_webhook_after_hours.
CREATE OR REPLACE TABLE message_counts AS
SELECT
    campaign_id,
    arm,
    template_name,
    country,
    count(*) AS ledger_messages,
    count(*) FILTER (WHERE ledger_state = 'accepted') AS accepted,
    count(*) FILTER (
        WHERE ledger_state = 'accepted' AND ledger_message_status = 'held_for_quality_assessment'
    ) AS held,
    count(*) FILTER (WHERE ledger_state = 'rejected') AS rejected,
    count(*) FILTER (WHERE ledger_state = 'unknown') AS send_outcome_unknown,
    count(*) FILTER (WHERE ledger_state IN ('planned', 'in_flight')) AS not_sent,
    count(*) FILTER (WHERE ledger_state = 'accepted' AND ever_delivered) AS delivered,
    count(*) FILTER (WHERE ledger_state = 'accepted' AND ever_read) AS read,
    count(*) FILTER (WHERE ledger_state = 'accepted' AND final_status = 'failed') AS failed,
    count(*) FILTER (
        WHERE ledger_state = 'accepted' AND failed_after_delivery
    ) AS failed_after_delivery,
    count(*) FILTER (WHERE ledger_state = 'accepted' AND final_status = 'expired') AS expired,
    count(*) FILTER (
        WHERE ledger_state = 'accepted' AND final_status IN ('sent', 'accepted')
    ) AS pending,
    count(*) FILTER (WHERE route = 'mm') AS routed_mm,
    count(*) FILTER (WHERE route = 'cloud') AS routed_cloud,
    count(*) FILTER (WHERE ledger_state = 'accepted' AND has_webhook) AS with_webhook,
    count(*) FILTER (WHERE ledger_state = 'accepted' AND NOT has_webhook) AS without_webhook,
    count(*) FILTER (
        WHERE ledger_state = 'accepted'
        AND NOT has_webhook
        AND sent_at + to_seconds(CAST($no_webhook_after_hours AS DOUBLE) * 3600)
            < CAST($as_of AS TIMESTAMPTZ)
    ) AS no_webhook_overdue,
    count(*) FILTER (WHERE ledger_state <> 'accepted' AND has_webhook) AS webhooks_not_accepted,
    CAST(sum(webhook_events) AS BIGINT) AS webhook_events
FROM message_status
WHERE in_ledger
GROUP BY campaign_id, arm, template_name, country
ORDER BY campaign_id, arm, template_name, country
