-- report_message_check: message by message, the report's final status and wamid against the
-- sandbox's ground truth (a stricter check than the counts by arm and status: two errors
-- cannot cancel out).
--   wrong_status   ledger messages whose final status differs from the truth's fate
--   not_in_report  messages the sandbox accepted that no ledger row of the report holds
-- Inputs (views made by the caller): truth, message_status (the report's table).
WITH fates AS (
    SELECT wamid, CASE fate WHEN 'dropped' THEN 'failed' ELSE fate END AS status
    FROM truth
    WHERE record = 'message'
),
reported AS (
    SELECT wamid, final_status FROM message_status WHERE in_ledger AND wamid IS NOT NULL
)
SELECT
    (SELECT count(*) FROM reported AS r JOIN fates AS f USING (wamid)
        WHERE r.final_status <> f.status) AS wrong_status,
    (SELECT count(*) FROM fates ANTI JOIN reported USING (wamid)) AS not_in_report
