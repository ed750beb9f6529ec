-- batch_files: the files of the batch being landed: a number, the local path DuckDB reads, and
-- the source file's name (written as source_file).
CREATE OR REPLACE TEMP TABLE batch_files (
    file_id INTEGER PRIMARY KEY,
    path VARCHAR NOT NULL,
    source VARCHAR NOT NULL
);
