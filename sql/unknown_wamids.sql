-- unknown_wamids: the messages known only from status webhooks: their wamid is in no ledger
-- given to the report. They are kept, counted in reconciliation, and listed here. A ledger send
-- whose outcome is `unknown` (a timeout after the request left) is their most likely source:
-- the recipient_id of their webhooks (events/statuses) tells which.
--
-- Inputs: table message_status.
CREATE OR REPLACE TABLE unknown_wamids AS
SELECT
    wamid,
    phone_number_id,
    webhook_events,
    first_event_at,
    delivered_at,
    read_at,
    final_status,
    error_code,
    pricing_category,
    billable
FROM message_status
WHERE NOT in_ledger
ORDER BY first_event_at, wamid
