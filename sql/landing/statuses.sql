-- statuses: the status events of the batch that land on day $day, one row per (wamid, status):
-- not on a quarantined line and not in status_drops (later copies, and events landed before).
-- Run once per day of the batch; each result is written as that day's Parquet file.
SELECT
    s.wamid,
    s.status,
    s.ts,
    s.recipient_id,
    s.pricing_billable,
    s.pricing_model,
    s.pricing_category,
    s.pricing_type,
    s.error_code,
    s.error_title,
    s.error_message,
    s.error_details,
    s.biz_opaque_callback_data,
    s.conversation_id,
    s.conversation_origin_type,
    s.conversation_expiration_ts,
    s.phone_number_id,
    s.waba_id,
    s.received_at,
    f.source AS source_file
FROM status_rows AS s
ANTI JOIN line_problems AS p
    ON p.file_id = s.file_id AND p.line_offset = s.line_offset
ANTI JOIN status_drops AS d ON d.row_id = s.rowid
JOIN batch_files AS f ON f.file_id = s.file_id
WHERE s.dt = $day AND s.problem IS NULL;
