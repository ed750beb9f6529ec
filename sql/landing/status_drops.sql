-- status_drops: the status rows of the batch not to land (by rowid of status_rows): later copies
-- of a (wamid, status) seen more than once in the batch (the first received is kept), and events
-- already in the Parquet files $existing (the days the batch's events fall on, plus an empty
-- file with the schema). Rows on quarantined lines are left out of the ranking, so a duplicate
-- elsewhere still lands. Only keys seen twice are ranked: a window over every row costs seconds.
CREATE OR REPLACE TEMP TABLE status_drops AS
WITH eligible AS (
    SELECT s.rowid AS row_id, s.wamid, s.status, s.received_at, s.ts, s.file_id,
           s.line_offset, s.i, s.j, s.k
    FROM status_rows AS s
    ANTI JOIN line_problems AS p
        ON p.file_id = s.file_id AND p.line_offset = s.line_offset
    WHERE s.problem IS NULL
),
repeated AS (
    SELECT wamid, status
    FROM eligible
    GROUP BY wamid, status
    HAVING count(*) > 1
)
SELECT e.row_id
FROM eligible AS e
SEMI JOIN repeated AS r ON r.wamid = e.wamid AND r.status = e.status
QUALIFY row_number() OVER (
    PARTITION BY e.wamid, e.status
    ORDER BY e.received_at NULLS LAST, e.ts, e.file_id, e.line_offset, e.i, e.j, e.k
) > 1
UNION
SELECT s.rowid AS row_id
FROM status_rows AS s
SEMI JOIN read_parquet($existing) AS x ON x.wamid = s.wamid AND x.status = s.status;
