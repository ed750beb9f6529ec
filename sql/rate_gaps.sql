-- rate_gaps: billable messages the rate card could not price, by campaign, arm, country,
-- pricing category and reason (no_country, no_pricing_category, no_rate). They are left out of
-- every cost, never priced at 0; cost_by_arm says how many each cost misses.
-- campaign_id is empty for wamids in no ledger.
--
-- Inputs: table message_cost.
CREATE OR REPLACE TABLE rate_gaps AS
SELECT
    campaign_id,
    arm,
    country,
    pricing_category,
    unpriced_reason,
    count(*) AS messages,
    min(charged_at) AS first_charged_at,
    max(charged_at) AS last_charged_at
FROM message_cost
WHERE price IS NULL
GROUP BY campaign_id, arm, country, pricing_category, unpriced_reason
ORDER BY campaign_id NULLS LAST, arm, country, pricing_category, unpriced_reason
