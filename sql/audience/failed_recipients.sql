-- Recipients with a landed failed status carrying one error code (131050: stopped marketing;
-- 131049: per-user marketing limit), optionally only since a time.
-- Binds: $files (Parquet files of events/statuses: recipient_id, error_code, ts), $code,
-- $since (TIMESTAMPTZ, or NULL for all time).
SELECT DISTINCT regexp_replace(CAST(recipient_id AS VARCHAR), '[^0-9]', '', 'g') AS recipient
FROM read_parquet($files, union_by_name = true)
WHERE recipient_id IS NOT NULL
    AND TRY_CAST(error_code AS BIGINT) = $code
    AND ($since IS NULL OR ts >= $since)
