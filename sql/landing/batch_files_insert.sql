-- batch_files (one more): register a file of the batch.
INSERT INTO batch_files VALUES ($file_id, $path, $source);
