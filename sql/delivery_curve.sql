-- delivery_curve: per campaign and assigned arm, the share of accepted messages delivered and
-- read within `hour` hours of their send (hour = 0 .. $curve_hours).
-- A message counts at hour h when its first delivered (or read) event is at most h hours after
-- the ledger's sent_at; an event stamped before sent_at (clock skew) counts at hour 0.
--   delivered_share = delivered / accepted, read_share = read / accepted (both cumulative)
--
-- Inputs: tables message_status and message_counts (accepted per arm). Parameter: $curve_hours.
CREATE OR REPLACE TABLE delivery_curve AS
WITH accepted AS (
    SELECT
        campaign_id,
        arm,
        sent_at,
        delivered_at,
        read_at
    FROM message_status
    WHERE in_ledger AND ledger_state = 'accepted'
),
arms AS (
    SELECT campaign_id, arm, CAST(sum(accepted) AS BIGINT) AS accepted
    FROM message_counts
    GROUP BY campaign_id, arm
    HAVING sum(accepted) > 0
),
hours AS (
    SELECT CAST(range AS INTEGER) AS hour
    FROM range(0, CAST($curve_hours AS BIGINT) + 1)
),
firsts AS (
    SELECT
        campaign_id,
        arm,
        CAST(greatest(0, ceil((epoch(delivered_at) - epoch(sent_at)) / 3600.0)) AS INTEGER)
            AS delivered_hour,
        -- greatest() skips NULLs, so an unread message must stay NULL explicitly.
        CASE
            WHEN read_at IS NOT NULL
                THEN CAST(greatest(0, ceil((epoch(read_at) - epoch(sent_at)) / 3600.0)) AS INTEGER)
        END AS read_hour
    FROM accepted
    WHERE sent_at IS NOT NULL AND delivered_at IS NOT NULL
),
per_hour AS (
    SELECT campaign_id, arm, delivered_hour AS hour, count(*) AS delivered, 0 AS read
    FROM firsts
    GROUP BY campaign_id, arm, delivered_hour
    UNION ALL
    SELECT campaign_id, arm, read_hour AS hour, 0 AS delivered, count(*) AS read
    FROM firsts
    WHERE read_hour IS NOT NULL
    GROUP BY campaign_id, arm, read_hour
),
cumulative AS (
    SELECT
        a.campaign_id,
        a.arm,
        h.hour,
        a.accepted,
        coalesce(sum(p.delivered), 0) AS delivered,
        coalesce(sum(p.read), 0) AS read
    FROM arms AS a
    CROSS JOIN hours AS h
    LEFT JOIN per_hour AS p
        ON p.campaign_id = a.campaign_id AND p.arm = a.arm AND p.hour <= h.hour
    GROUP BY a.campaign_id, a.arm, h.hour, a.accepted
)
SELECT
    campaign_id,
    arm,
    hour,
    accepted,
    CAST(delivered AS BIGINT) AS delivered,
    CAST(read AS BIGINT) AS read,
    delivered / nullif(accepted, 0) AS delivered_share,
    read / nullif(accepted, 0) AS read_share
FROM cumulative
ORDER BY campaign_id, arm, hour
