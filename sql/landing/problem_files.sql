-- problem_files: files read on the fast path (no line offsets) with a line that breaks a rule;
-- they are read again on the careful path, which knows each line's offset.
SELECT DISTINCT file_id FROM status_rows WHERE problem IS NOT NULL AND line_offset IS NULL
UNION
SELECT DISTINCT file_id FROM other_rows WHERE problem IS NOT NULL AND line_offset IS NULL
ORDER BY file_id;
