-- clicks: the batch's user actions (link clicks, and any other action_type) that land, once each,
-- not on a quarantined line and not already in the Parquet files $existing. Fetched as Arrow and
-- written per day (dt) by mmapi.landing.writer.
-- Of copies of one event, the first received is kept, then the first by source file name and
-- place in it (other_rows' rowid is the read order).
WITH candidates AS (
    SELECT o.*, o.rowid AS row_id
    FROM other_rows AS o
    ANTI JOIN line_problems AS p
        ON p.file_id = o.file_id AND p.line_offset = o.line_offset
    ANTI JOIN read_parquet($existing) AS e
        ON e.action_type = o.action_type
        AND e.click_id IS NOT DISTINCT FROM o.click_id
        AND e.tracking_token IS NOT DISTINCT FROM o.tracking_token
        AND e.ts = o.ts
    WHERE o.output_table = 'clicks' AND o.problem IS NULL
)
SELECT
    c.click_id,
    c.ts,
    c.action_type,
    c.click_component,
    c.product_id,
    c.tracking_token,
    c.client_user_agent,
    c.phone_number_id,
    c.waba_id,
    c.received_at,
    f.source AS source_file,
    c.dt
FROM candidates AS c
JOIN batch_files AS f ON f.file_id = c.file_id
QUALIFY row_number() OVER (
    PARTITION BY c.action_type, c.click_id, c.tracking_token, c.ts
    ORDER BY c.received_at NULLS LAST, f.source, c.row_id
) = 1;
