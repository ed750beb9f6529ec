-- status_drops: the rows of status_rows (by row_id) not to land: marker rows (other_json, no
-- status), rows that break a rule or sit on a quarantined line, later copies of a (wamid, status) seen more than once in the batch (the
-- first received is kept; among copies received at the same time or without a receive time, the
-- first by source file name and place in it: row_id is the read order, which follows the lines
-- of each file), and events already in the Parquet files $existing (the days the
-- batch's events fall on, plus an empty file with the schema). Rows on quarantined lines are
-- left out of the ranking, so a duplicate elsewhere still lands. Only keys seen twice are
-- ranked, and they are found by a 64-bit hash of the key: grouping a million rows by one
-- integer is cheaper than by two strings, and a collision only ranks a few more rows by their
-- real key. Each part reads status_rows (Arrow) itself: a shared CTE would be copied whole.
WITH repeated AS (
    SELECT hash(wamid, status) AS key_hash
    FROM status_rows
    WHERE problem IS NULL AND other_json IS NULL
    GROUP BY key_hash
    HAVING count(*) > 1
),
candidates AS (
    SELECT s.row_id, s.wamid, s.status, s.received_at, s.source_file
    FROM status_rows AS s
    SEMI JOIN repeated AS r ON r.key_hash = hash(s.wamid, s.status)
    ANTI JOIN line_problems AS p
        ON p.file_id = s.file_id AND p.line_offset = s.line_offset
    WHERE s.problem IS NULL AND s.other_json IS NULL
)
SELECT row_id
FROM status_rows
WHERE problem IS NOT NULL OR other_json IS NOT NULL
UNION ALL
SELECT s.row_id
FROM status_rows AS s
SEMI JOIN line_problems AS p
    ON p.file_id = s.file_id AND p.line_offset = s.line_offset
UNION ALL
SELECT row_id
FROM candidates
QUALIFY row_number() OVER (
    PARTITION BY wamid, status
    ORDER BY received_at NULLS LAST, source_file, row_id
) > 1
UNION ALL
SELECT s.row_id
FROM status_rows AS s
SEMI JOIN read_parquet($existing) AS x ON x.wamid = s.wamid AND x.status = s.status;
