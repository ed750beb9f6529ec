-- cost_by_arm: per campaign and assigned arm, what the messages cost and the route they took.
--
--   billable      delivered messages the pricing object bills (message_status.billable)
--   priced        of those, priced by the rate card (message_cost); unpriced = the rest
--   cost          sum of the priced messages' prices, in `currency`; when unpriced > 0 it is
--                 a lower bound (cost_complete = false) and the per-unit costs are NULL
--   cost_is_estimate  some prices are max-price caps (upper bounds) or example rates
--   cost_per_delivered = cost / delivered, cost_per_read = cost / read,
--   cost_per_click = cost / clicks (arms with MM-routed messages only)
--   other_route_share: share of the arm's messages with a known route that took the other
--                 route: for `mm` the fallback rate (priced `marketing`), for `cloud` the
--                 contamination (priced `marketing_lite`)
--
-- Inputs: tables funnel, message_cost.
CREATE OR REPLACE TABLE cost_by_arm AS
WITH costs AS (
    SELECT
        campaign_id,
        arm,
        count(*) AS billable,
        count(price) AS priced,
        count(*) FILTER (WHERE price_is_upper_bound) AS capped,
        count(*) FILTER (WHERE rate_is_example) AS example_rated,
        sum(price) AS cost,
        min(currency) AS currency
    FROM message_cost
    WHERE in_ledger
    GROUP BY campaign_id, arm
),
joined AS (
    SELECT
        f.campaign_id,
        f.arm,
        f.accepted,
        f.delivered,
        f.read,
        f.clicks,
        f.routed_mm,
        f.routed_cloud,
        CASE WHEN f.arm = 'mm' THEN f.routed_cloud ELSE f.routed_mm END
            / nullif(f.routed_mm + f.routed_cloud, 0) AS other_route_share,
        coalesce(c.billable, 0) AS billable,
        coalesce(c.priced, 0) AS priced,
        coalesce(c.billable, 0) - coalesce(c.priced, 0) AS unpriced,
        coalesce(c.capped, 0) AS capped,
        coalesce(c.example_rated, 0) AS example_rated,
        c.currency,
        coalesce(c.cost, CAST(0 AS DECIMAL(38, 9))) AS cost
    FROM funnel AS f
    LEFT JOIN costs AS c ON c.campaign_id = f.campaign_id AND c.arm = f.arm
)
SELECT
    *,
    unpriced = 0 AS cost_complete,
    capped > 0 OR example_rated > 0 AS cost_is_estimate,
    CASE WHEN unpriced = 0 THEN cost / nullif(delivered, 0) END AS cost_per_delivered,
    CASE WHEN unpriced = 0 THEN cost / nullif(read, 0) END AS cost_per_read,
    CASE WHEN unpriced = 0 AND routed_mm > 0 THEN cost / nullif(clicks, 0) END AS cost_per_click
FROM joined
ORDER BY campaign_id, arm
