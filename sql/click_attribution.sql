-- click_attribution: one row per distinct link click (duplicates share a click_id) and the
-- campaign and arm it is attributed to.
--
-- A click webhook carries no wamid, recipient or template (DOMAIN.md section 4): only the
-- business number (phone_number_id), its time and ids of its own. Clicks exist only for messages
-- that went over the MM route (priced marketing_lite). The rule:
--   * candidate campaigns: those with MM-routed messages from the click's phone_number_id, from
--     the first such send until $attribution_days after the last one (Meta reports clicks only
--     for sends up to 7 days old);
--   * exactly one candidate: the click is that campaign's. Its arm is known ('arm') when only one
--     of the campaign's arms had MM-routed messages; when both did (a contaminated Cloud arm or
--     an MM arm with fallback cannot be told apart) the arm is left empty ('campaign');
--   * several candidates: 'ambiguous'; none: 'unattributed'. Both stay in this table.
-- Only `marketing_messages_link_click` actions count (action_type is an open enum).
--
-- Inputs: view `clicks`, table message_status. Parameter: $attribution_days.
CREATE OR REPLACE TABLE click_attribution AS
WITH distinct_clicks AS (
    SELECT
        click_id,
        min(ts) AS ts,
        min(lower(click_component)) AS click_component,
        min(product_id) AS product_id,
        min(tracking_token) AS tracking_token,
        min(phone_number_id) AS phone_number_id,
        min(waba_id) AS waba_id,
        count(*) AS webhook_events
    FROM clicks
    WHERE coalesce(action_type, 'marketing_messages_link_click') = 'marketing_messages_link_click'
    -- A click without click_id is kept as its own click (token and time tell it apart).
    GROUP BY
        click_id,
        CASE WHEN click_id IS NULL THEN tracking_token END,
        CASE WHEN click_id IS NULL THEN ts END
),
-- The campaigns' MM-routed messages, in one pass over message_status for both uses below.
mm_groups AS MATERIALIZED (
    SELECT
        campaign_id,
        arm,
        phone_number_id,
        min(sent_at) AS first_sent_at,
        max(sent_at) AS last_sent_at
    FROM message_status
    WHERE in_ledger AND route = 'mm'
    GROUP BY campaign_id, arm, phone_number_id
),
mm_sends AS (
    SELECT
        campaign_id,
        phone_number_id,
        min(first_sent_at) AS opens_at,
        max(last_sent_at) + to_days(CAST($attribution_days AS INTEGER)) AS closes_at
    FROM mm_groups
    WHERE first_sent_at IS NOT NULL
    GROUP BY campaign_id, phone_number_id
),
-- A message's business number comes from its `sent` webhook. Messages without one are left out
-- of their campaign's windows, unless no message of the campaign has a number: then the
-- campaign's window matches clicks from any number.
windows AS (
    SELECT *
    FROM mm_sends
    QUALIFY phone_number_id IS NOT NULL
        OR count(phone_number_id) OVER (PARTITION BY campaign_id) = 0
),
campaign_arms AS (
    SELECT campaign_id, count(DISTINCT arm) AS arms_routed_mm, min(arm) AS arm
    FROM mm_groups
    GROUP BY campaign_id
),
candidates AS (
    SELECT
        c.click_id,
        c.ts,
        c.tracking_token,
        count(DISTINCT w.campaign_id) AS candidate_campaigns,
        min(w.campaign_id) AS campaign_id
    FROM distinct_clicks AS c
    LEFT JOIN windows AS w
        ON (c.phone_number_id = w.phone_number_id
            OR c.phone_number_id IS NULL
            OR w.phone_number_id IS NULL)
        AND c.ts BETWEEN w.opens_at AND w.closes_at
    GROUP BY c.click_id, c.ts, c.tracking_token
)
SELECT
    c.click_id,
    c.ts,
    c.click_component,
    c.product_id,
    c.tracking_token,
    c.phone_number_id,
    c.waba_id,
    c.webhook_events,
    k.candidate_campaigns,
    CASE WHEN k.candidate_campaigns = 1 THEN k.campaign_id END AS campaign_id,
    CASE WHEN k.candidate_campaigns = 1 AND a.arms_routed_mm = 1 THEN a.arm END AS arm,
    CASE
        WHEN k.candidate_campaigns = 0 THEN 'unattributed'
        WHEN k.candidate_campaigns > 1 THEN 'ambiguous'
        WHEN a.arms_routed_mm = 1 THEN 'arm'
        ELSE 'campaign'
    END AS attribution
FROM distinct_clicks AS c
JOIN candidates AS k
    ON c.click_id IS NOT DISTINCT FROM k.click_id
    AND c.ts = k.ts
    AND c.tracking_token IS NOT DISTINCT FROM k.tracking_token
LEFT JOIN campaign_arms AS a
    ON a.campaign_id = k.campaign_id AND k.candidate_campaigns = 1
ORDER BY c.ts, c.click_id, c.tracking_token
