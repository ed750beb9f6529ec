-- quarantine: the batch's refused lines (raw bytes, file, offset, reason), once each (source_file,
-- source_offset), not already in the Parquet files $existing. quarantine_lines is an Arrow table
-- registered by the caller; dt is the day received, else the day quarantined. Fetched as Arrow and
-- written per day (dt) by mmapi.landing.writer.
SELECT
    q.source_file,
    q.source_offset,
    q.raw_line,
    q.reason,
    q.received_at,
    $quarantined_at::TIMESTAMPTZ AS quarantined_at,
    $run_id::VARCHAR AS run_id,
    CAST(timezone('UTC', coalesce(q.received_at, $quarantined_at::TIMESTAMPTZ)) AS DATE) AS dt
FROM quarantine_lines AS q
ANTI JOIN read_parquet($existing) AS e
    ON e.source_file = q.source_file AND e.source_offset = q.source_offset
QUALIFY row_number() OVER (
    PARTITION BY q.source_file, q.source_offset ORDER BY q.reason
) = 1;
