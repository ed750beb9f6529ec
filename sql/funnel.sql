-- funnel: per campaign and assigned arm (intention to treat), what became of the messages.
--
-- Counts of the ledger's messages, as defined in message_counts.sql:
--   accepted, held, rejected, send_outcome_unknown, not_sent, delivered (a read counts as
--   delivered), read, failed (never delivered), failed_after_delivery, expired, pending;
--   accepted = delivered + failed + expired + pending (see reconciliation);
--   routed_mm / routed_cloud: route taken, from the webhook's pricing category
--   clicks        clicks attributed to this campaign and arm (click_attribution); clicks of the
--                 campaign whose arm cannot be told are in clicks_arm_unknown, on every arm row
--   stopped       recipients whose stop was attributed to a message of this arm
--                 (preference_attribution); still_stopped = of those, not resumed since
-- Rates and their denominators:
--   delivery_rate = delivered / accepted
--   read_rate     = read / delivered
--   click_rate    = clicks / delivered, only for an arm with MM-routed messages (the Cloud
--                   route sends no click webhooks, so elsewhere it is not measurable: NULL)
--   stop_rate     = stopped / delivered
--
-- Inputs: tables message_counts, click_attribution, preference_attribution.
CREATE OR REPLACE TABLE funnel AS
WITH messages AS (
    SELECT
        campaign_id,
        arm,
        sum(ledger_messages) AS ledger_messages,
        sum(accepted) AS accepted,
        sum(held) AS held,
        sum(rejected) AS rejected,
        sum(send_outcome_unknown) AS send_outcome_unknown,
        sum(not_sent) AS not_sent,
        sum(delivered) AS delivered,
        sum(read) AS read,
        sum(failed) AS failed,
        sum(failed_after_delivery) AS failed_after_delivery,
        sum(expired) AS expired,
        sum(pending) AS pending,
        sum(routed_mm) AS routed_mm,
        sum(routed_cloud) AS routed_cloud
    FROM message_counts
    GROUP BY campaign_id, arm
),
arm_clicks AS (
    SELECT campaign_id, arm, count(*) AS clicks
    FROM click_attribution
    WHERE attribution = 'arm'
    GROUP BY campaign_id, arm
),
campaign_clicks AS (
    SELECT campaign_id, count(*) AS clicks_arm_unknown
    FROM click_attribution
    WHERE attribution = 'campaign'
    GROUP BY campaign_id
),
stops AS (
    SELECT
        campaign_id,
        arm,
        count(DISTINCT wa_id) AS stopped,
        count(DISTINCT wa_id) FILTER (WHERE NOT resumed_later) AS still_stopped
    FROM preference_attribution
    WHERE value = 'stop' AND campaign_id IS NOT NULL
    GROUP BY campaign_id, arm
)
SELECT
    m.campaign_id,
    m.arm,
    CAST(m.ledger_messages AS BIGINT) AS ledger_messages,
    CAST(m.accepted AS BIGINT) AS accepted,
    CAST(m.held AS BIGINT) AS held,
    CAST(m.rejected AS BIGINT) AS rejected,
    CAST(m.send_outcome_unknown AS BIGINT) AS send_outcome_unknown,
    CAST(m.not_sent AS BIGINT) AS not_sent,
    CAST(m.delivered AS BIGINT) AS delivered,
    CAST(m.read AS BIGINT) AS read,
    CAST(m.failed AS BIGINT) AS failed,
    CAST(m.failed_after_delivery AS BIGINT) AS failed_after_delivery,
    CAST(m.expired AS BIGINT) AS expired,
    CAST(m.pending AS BIGINT) AS pending,
    CAST(m.routed_mm AS BIGINT) AS routed_mm,
    CAST(m.routed_cloud AS BIGINT) AS routed_cloud,
    coalesce(c.clicks, 0) AS clicks,
    coalesce(k.clicks_arm_unknown, 0) AS clicks_arm_unknown,
    coalesce(s.stopped, 0) AS stopped,
    coalesce(s.still_stopped, 0) AS still_stopped,
    m.delivered / nullif(m.accepted, 0) AS delivery_rate,
    m.read / nullif(m.delivered, 0) AS read_rate,
    CASE WHEN m.routed_mm > 0 THEN coalesce(c.clicks, 0) / nullif(m.delivered, 0) END AS click_rate,
    coalesce(s.stopped, 0) / nullif(m.delivered, 0) AS stop_rate
FROM messages AS m
LEFT JOIN arm_clicks AS c ON c.campaign_id = m.campaign_id AND c.arm = m.arm
LEFT JOIN campaign_clicks AS k ON k.campaign_id = m.campaign_id
LEFT JOIN stops AS s ON s.campaign_id = m.campaign_id AND s.arm = m.arm
ORDER BY m.campaign_id, m.arm
