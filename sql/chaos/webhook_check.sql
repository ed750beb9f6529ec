-- webhook_check: every webhook event the receiver acknowledged is landed, and landed once.
-- The sandbox records an event in its ground truth only when the receiver answered 2xx to the
-- body holding it, so the truth's events are exactly the acknowledged ones. Events are keyed as
-- the landing dedupes them: statuses by (wamid, status), clicks by click_id, preferences by
-- (wa_id, value, ts).
--   acked_events       distinct events acknowledged
--   acked_missing      acknowledged events missing from the landed tables
--   landed_events      rows landed
--   landed_twice       landed rows beyond the first of their key
--   landed_not_acked   landed events the truth does not hold (stored, then no answer reached
--                      the sandbox, and it gave up retrying)
-- Inputs (views made by the caller): truth, statuses, clicks, preferences (landed events).
WITH acked AS (
    SELECT DISTINCT kind, event_key
    FROM (
        SELECT
            kind,
            CASE kind
                WHEN 'status' THEN wamid || '/' || status
                WHEN 'click' THEN click_id
                ELSE wa_id || '/' || status || '/' || CAST(ts AS BIGINT)
            END AS event_key
        FROM truth
        WHERE record = 'event'
    )
),
landed AS (
    SELECT 'status' AS kind, wamid || '/' || status AS event_key FROM statuses
    UNION ALL
    SELECT 'click' AS kind, click_id AS event_key FROM clicks
    UNION ALL
    SELECT
        'preference' AS kind,
        wa_id || '/' || value || '/' || CAST(epoch(ts) AS BIGINT) AS event_key
    FROM preferences
),
landed_keys AS (
    SELECT DISTINCT kind, event_key FROM landed
)
SELECT
    (SELECT count(*) FROM acked) AS acked_events,
    (SELECT count(*) FROM acked ANTI JOIN landed_keys USING (kind, event_key)) AS acked_missing,
    (SELECT count(*) FROM landed) AS landed_events,
    (SELECT count(*) FROM landed) - (SELECT count(*) FROM landed_keys) AS landed_twice,
    (SELECT count(*) FROM landed_keys ANTI JOIN acked USING (kind, event_key)) AS landed_not_acked
