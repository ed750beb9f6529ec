-- account_updates: the batch's account_update (e.g. MM_LITE_TERMS_SIGNED) and
-- template_category_update changes that land, once each, not on a quarantined line and not already
-- in the Parquet files $existing. Fetched as Arrow and written per day (dt) by
-- mmapi.landing.writer.
-- Of copies of one event, the first received is kept, then the first by source file name and
-- place in it (other_rows' rowid is the read order).
WITH candidates AS (
    SELECT o.*, o.rowid AS row_id
    FROM other_rows AS o
    ANTI JOIN line_problems AS p
        ON p.file_id = o.file_id AND p.line_offset = o.line_offset
    ANTI JOIN read_parquet($existing) AS e
        ON e.field = o.field
        AND e.event IS NOT DISTINCT FROM o.event
        AND e.waba_id IS NOT DISTINCT FROM o.waba_id
        AND e.ts = o.ts
        AND e.message_template_id IS NOT DISTINCT FROM o.message_template_id
    WHERE o.output_table = 'account_updates' AND o.problem IS NULL
)
SELECT
    c.field,
    c.event,
    c.waba_id,
    c.ts,
    c.waba_info,
    c.message_template_id,
    c.message_template_name,
    c.message_template_language,
    c.previous_category,
    c.new_category,
    c.correct_category,
    c.received_at,
    f.source AS source_file,
    c.dt
FROM candidates AS c
JOIN batch_files AS f ON f.file_id = c.file_id
QUALIFY row_number() OVER (
    PARTITION BY c.field, c.event, c.waba_id, c.ts, c.message_template_id
    ORDER BY c.received_at NULLS LAST, f.source, c.row_id
) = 1;
