-- touched_days: the (table, dt) partitions the batch's events fall on. A redelivered event
-- repeats its timestamp, so only these partitions can already hold one of them.
SELECT 'statuses' AS table_name, dt
FROM status_rows
WHERE problem IS NULL AND dt IS NOT NULL
GROUP BY dt
UNION ALL
SELECT output_table AS table_name, dt
FROM other_rows
WHERE problem IS NULL AND output_table IS NOT NULL AND dt IS NOT NULL
GROUP BY output_table, dt
ORDER BY table_name, dt;
