-- send_check: exactly-once of the sends, scored by the sandbox's ground truth against the plan.
--   planned            recipients of the first plan (what the campaign set out to send)
--   sent_twice         planned recipients the sandbox accepted more than once
--   never_sent         planned recipients the sandbox never accepted
--   sent_outside_plan  recipients the sandbox accepted that the plan does not hold
--   wrong_endpoint     recipients sent to the other arm's endpoint (mm = /marketing_messages)
-- Inputs (views made by the caller): truth (the sandbox's ground truth NDJSON), plan (plan.parquet).
WITH sent AS (
    SELECT
        wa_id AS recipient,
        count(*) AS times,
        bool_or(endpoint = 'marketing_messages') AS to_mm,
        bool_or(endpoint <> 'marketing_messages') AS to_cloud
    FROM truth
    WHERE record = 'message'
    GROUP BY wa_id
)
SELECT
    count(p.recipient) AS planned,
    count(*) FILTER (WHERE p.recipient IS NOT NULL AND s.times > 1) AS sent_twice,
    count(*) FILTER (WHERE s.recipient IS NULL) AS never_sent,
    count(*) FILTER (WHERE p.recipient IS NULL) AS sent_outside_plan,
    count(*) FILTER (
        WHERE p.recipient IS NOT NULL
            AND s.recipient IS NOT NULL
            AND (CASE WHEN p.arm = 'mm' THEN s.to_cloud ELSE s.to_mm END)
    ) AS wrong_endpoint
FROM plan AS p
FULL OUTER JOIN sent AS s ON p.recipient = s.recipient
