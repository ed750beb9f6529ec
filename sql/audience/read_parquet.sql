-- A segment given as Parquet file(s): every column as stored. Binds: $path (a file or a glob).
SELECT * FROM read_parquet($path)
