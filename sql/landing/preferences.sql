-- preferences: the batch's stop/resume events that land, once each (wa_id, value, ts), not on a
-- quarantined line and not already in the Parquet files $existing. Feeds the suppression list.
-- Fetched as Arrow and written per day (dt) by mmapi.landing.writer.
-- Of copies of one event, the first received is kept, then the first by source file name and
-- place in it (other_rows' rowid is the read order).
WITH candidates AS (
    SELECT o.*, o.rowid AS row_id
    FROM other_rows AS o
    ANTI JOIN line_problems AS p
        ON p.file_id = o.file_id AND p.line_offset = o.line_offset
    ANTI JOIN read_parquet($existing) AS e
        ON e.wa_id = o.wa_id AND e.value = o.preference_value AND e.ts = o.ts
    WHERE o.output_table = 'preferences' AND o.problem IS NULL
)
SELECT
    c.wa_id,
    c.preference_value AS value,
    c.ts,
    c.preference_category AS category,
    c.phone_number_id,
    c.waba_id,
    c.received_at,
    f.source AS source_file,
    c.dt
FROM candidates AS c
JOIN batch_files AS f ON f.file_id = c.file_id
QUALIFY row_number() OVER (
    PARTITION BY c.wa_id, c.preference_value, c.ts
    ORDER BY c.received_at NULLS LAST, f.source, c.row_id
) = 1;
