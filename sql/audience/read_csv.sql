-- A segment given as a CSV file, every column as text: CSV has no types, and sniffing would
-- turn '0151 ...' or '+49...' phone numbers and '00123' coupons into integers.
-- Binds: $path (a file or a glob).
SELECT * FROM read_csv($path, all_varchar = true, header = true)
