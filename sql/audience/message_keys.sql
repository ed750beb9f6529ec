-- message_key and arm of each recipient, from one SHA-256 of '<campaign_id>:<recipient>'
-- (mmapi/audience/arms.py holds the same rule for one recipient in Python).
-- message_key: the first 32 hex characters. arm: 'mm' when the first 16 hex characters
-- (8 bytes, fixed width, so they sort like the number) are below the threshold.
-- Binds: $campaign_id, $threshold_hex (16 hex characters, or 'g' for everyone on MM).
-- Reads: recipients(recipient VARCHAR). A plain projection: DuckDB keeps the input's order
-- (preserve_insertion_order, on by default).
WITH digests AS (
    SELECT sha256($campaign_id || ':' || recipient) AS digest FROM recipients
)
SELECT
    substr(digest, 1, 32) AS message_key,
    CASE WHEN substr(digest, 1, 16) < $threshold_hex THEN 'mm' ELSE 'cloud' END AS arm
FROM digests
