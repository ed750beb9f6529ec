-- report_cells: the report's messages by assigned arm and final status beside the sandbox's
-- ground truth of the same cells. The truth's fate maps to a final status as the report
-- defines it (sql/message_status.sql): a held message dropped with 132015 is `failed`; the
-- others keep their names (read, delivered, failed, expired).
-- Inputs (views made by the caller): truth, message_status (the report's table).
WITH truth_cells AS (
    SELECT
        CASE endpoint WHEN 'marketing_messages' THEN 'mm' ELSE 'cloud' END AS arm,
        CASE fate WHEN 'dropped' THEN 'failed' ELSE fate END AS status,
        count(*) AS truth
    FROM truth
    WHERE record = 'message'
    GROUP BY ALL
),
report_cells AS (
    SELECT arm, final_status AS status, count(*) AS report
    FROM message_status
    WHERE in_ledger
    GROUP BY ALL
)
SELECT
    coalesce(t.arm, r.arm) AS arm,
    coalesce(t.status, r.status) AS status,
    coalesce(t.truth, 0) AS truth,
    coalesce(r.report, 0) AS report
FROM truth_cells AS t
FULL OUTER JOIN report_cells AS r ON t.arm = r.arm AND t.status = r.status
ORDER BY arm, status
