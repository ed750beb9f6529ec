-- funnel_by_country: the funnel per campaign, assigned arm and recipient country (from the number).
-- Counts (see message_counts.sql), rates and denominators as in funnel.sql. Stops are exact (a stop is attributed to a
-- message). Clicks carry no country: they are given only where the campaign's arm has a single
-- country (then all its clicks are that one's); elsewhere clicks and click_rate are NULL.
--
-- Inputs: tables message_counts, click_attribution, preference_attribution.
CREATE OR REPLACE TABLE funnel_by_country AS
WITH messages AS (
    SELECT
        campaign_id,
        arm,
        country,
        CAST(sum(accepted) AS BIGINT) AS accepted,
        CAST(sum(delivered) AS BIGINT) AS delivered,
        CAST(sum(read) AS BIGINT) AS read,
        CAST(sum(failed) AS BIGINT) AS failed,
        CAST(sum(failed_after_delivery) AS BIGINT) AS failed_after_delivery,
        CAST(sum(expired) AS BIGINT) AS expired,
        CAST(sum(pending) AS BIGINT) AS pending,
        CAST(sum(routed_mm) AS BIGINT) AS routed_mm,
        CAST(sum(routed_cloud) AS BIGINT) AS routed_cloud
    FROM message_counts
    GROUP BY campaign_id, arm, country
),
arm_clicks AS (
    SELECT campaign_id, arm, count(*) AS clicks
    FROM click_attribution
    WHERE attribution = 'arm'
    GROUP BY campaign_id, arm
),
stops AS (
    SELECT
        campaign_id,
        arm,
        country,
        count(DISTINCT wa_id) AS stopped,
        count(DISTINCT wa_id) FILTER (WHERE NOT resumed_later) AS still_stopped
    FROM preference_attribution
    WHERE value = 'stop' AND campaign_id IS NOT NULL
    GROUP BY campaign_id, arm, country
),
shaped AS (
    SELECT
        m.*,
        count(*) OVER (PARTITION BY m.campaign_id, m.arm) AS groups_in_arm
    FROM messages AS m
)
SELECT
    m.campaign_id,
    m.arm,
    m.country,
    m.accepted,
    m.delivered,
    m.read,
    m.failed,
    m.failed_after_delivery,
    m.expired,
    m.pending,
    m.routed_mm,
    m.routed_cloud,
    CASE WHEN m.groups_in_arm = 1 THEN coalesce(c.clicks, 0) END AS clicks,
    coalesce(s.stopped, 0) AS stopped,
    coalesce(s.still_stopped, 0) AS still_stopped,
    m.delivered / nullif(m.accepted, 0) AS delivery_rate,
    m.read / nullif(m.delivered, 0) AS read_rate,
    CASE
        WHEN m.groups_in_arm = 1 AND m.routed_mm > 0
            THEN coalesce(c.clicks, 0) / nullif(m.delivered, 0)
    END AS click_rate,
    coalesce(s.stopped, 0) / nullif(m.delivered, 0) AS stop_rate
FROM shaped AS m
LEFT JOIN arm_clicks AS c ON c.campaign_id = m.campaign_id AND c.arm = m.arm
LEFT JOIN stops AS s
    ON s.campaign_id = m.campaign_id
    AND s.arm = m.arm
    AND s.country IS NOT DISTINCT FROM m.country
ORDER BY m.campaign_id, m.arm, m.country
