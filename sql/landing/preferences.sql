-- preferences: the batch's stop/resume events that land, once each (wa_id, value, ts), not on a
-- quarantined line and not already in the Parquet files $existing. Feeds the suppression list.
-- Fetched as Arrow and written per day (dt) by mmapi.landing.writer.
WITH candidates AS (
    SELECT o.*
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
    ORDER BY c.received_at NULLS LAST, c.file_id, c.line_offset, c.i, c.j, c.k
) = 1;
