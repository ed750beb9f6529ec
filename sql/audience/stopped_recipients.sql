-- Recipients whose latest landed marketing preference is 'stop' (DOMAIN.md section 4).
-- A 'resume' after a 'stop' lifts it; on a tie in time, 'stop' wins (suppressing is the safe side).
-- Binds: $files (the Parquet files of events/preferences: wa_id, value, ts).
SELECT regexp_replace(CAST(wa_id AS VARCHAR), '[^0-9]', '', 'g') AS recipient
FROM read_parquet($files, union_by_name = true)
WHERE wa_id IS NOT NULL
QUALIFY row_number() OVER (
    PARTITION BY regexp_replace(CAST(wa_id AS VARCHAR), '[^0-9]', '', 'g')
    ORDER BY ts DESC NULLS LAST, lower(value) = 'stop' DESC
) = 1
    AND lower(value) = 'stop'
