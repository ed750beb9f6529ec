-- status_rows (emptied of files): drop the rows of the files $file_ids, to be read again
-- on the careful path.
DELETE FROM status_rows WHERE list_contains($file_ids, file_id);
