-- file_problems: the lines of the files $file_ids (read on the careful path, so their offsets
-- are known) that break a rule.
SELECT DISTINCT file_id, line_offset
FROM status_rows
WHERE list_contains($file_ids, file_id) AND problem IS NOT NULL
UNION
SELECT DISTINCT file_id, line_offset
FROM other_rows
WHERE list_contains($file_ids, file_id) AND problem IS NOT NULL;
