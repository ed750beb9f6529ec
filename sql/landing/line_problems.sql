-- line_problems: one row per line that breaks a rule, with the first problem in the line
-- (line-level first, then by entry, change and item index). The whole line is quarantined.
CREATE OR REPLACE TEMP TABLE line_problems AS
SELECT
    file_id,
    line_offset,
    arg_min(problem, [coalesce(i, -1), coalesce(j, -1), coalesce(k, -1)]) AS reason,
    min(received_at) AS received_at
FROM (
    SELECT file_id, line_offset, i, j, k, problem, received_at
    FROM status_rows
    WHERE problem IS NOT NULL
    UNION ALL
    SELECT file_id, line_offset, i, j, k, problem, received_at
    FROM other_rows
    WHERE problem IS NOT NULL
)
GROUP BY file_id, line_offset;
