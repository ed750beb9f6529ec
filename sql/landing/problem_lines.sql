-- problem_lines: the lines to quarantine for breaking a rule, with the first problem found.
SELECT file_id, line_offset, reason, received_at
FROM line_problems
ORDER BY file_id, line_offset;
