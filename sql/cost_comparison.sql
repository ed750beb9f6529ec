-- cost_comparison: MM versus Cloud, one row per campaign, by assigned arm (intention to treat),
-- with the route actually taken beside it (DOMAIN.md section 7).
--
-- Rates (denominators as in funnel.sql): delivery = delivered / accepted, read = read /
-- delivered, reach = read / accepted. Each MM-minus-Cloud difference comes with its 95% (by
-- $confidence) interval from the two-proportion test (two_proportion_test, registered by
-- mmapi.analytics.stats: Wald interval, pooled z-test). When either arm has fewer than
-- $min_arm_size accepted messages the verdict is `inconclusive`: the interval is given, the lift
-- (difference and relative lift) is not. Verdicts: higher | lower | no_significant_difference
-- | inconclusive | not_computable (an arm is missing), MM relative to Cloud.
--
-- Cost per incremental message (only when the lift is conclusive and positive, and both arms'
-- costs are complete):
--   incremental_delivered = (delivery_rate_mm - delivery_rate_cloud) * accepted_mm
--   incremental_cost      = cost_mm - cost_cloud * accepted_mm / accepted_cloud
--   cost_per_incremental_delivered = incremental_cost / incremental_delivered
--   and the same for reads with reach (read / accepted).
-- fallback_rate_mm: MM-arm messages priced `marketing` (sent over Cloud); contamination_rate_cloud:
-- Cloud-arm messages priced `marketing_lite` (sent over MM); both of messages with a known route.
--
-- Inputs: table cost_by_arm. Parameters: $min_arm_size, $confidence.
CREATE OR REPLACE TABLE cost_comparison AS
WITH campaigns AS (
    SELECT DISTINCT campaign_id FROM cost_by_arm
),
paired AS (
    SELECT
        k.campaign_id,
        mm.accepted AS accepted_mm,
        cl.accepted AS accepted_cloud,
        mm.delivered AS delivered_mm,
        cl.delivered AS delivered_cloud,
        mm.read AS read_mm,
        cl.read AS read_cloud,
        mm.clicks AS clicks_mm,
        coalesce(mm.currency, cl.currency) AS currency,
        mm.cost AS cost_mm,
        cl.cost AS cost_cloud,
        mm.cost_complete AND cl.cost_complete AS cost_complete,
        mm.cost_is_estimate OR cl.cost_is_estimate AS cost_is_estimate,
        mm.cost_per_delivered AS cost_per_delivered_mm,
        cl.cost_per_delivered AS cost_per_delivered_cloud,
        mm.cost_per_read AS cost_per_read_mm,
        cl.cost_per_read AS cost_per_read_cloud,
        mm.cost_per_click AS cost_per_click_mm,
        mm.other_route_share AS fallback_rate_mm,
        cl.other_route_share AS contamination_rate_cloud
    FROM campaigns AS k
    LEFT JOIN cost_by_arm AS mm ON mm.campaign_id = k.campaign_id AND mm.arm = 'mm'
    LEFT JOIN cost_by_arm AS cl ON cl.campaign_id = k.campaign_id AND cl.arm = 'cloud'
),
tested AS (
    SELECT
        *,
        two_proportion_test(
            delivered_mm, accepted_mm, delivered_cloud, accepted_cloud,
            accepted_mm, accepted_cloud, $min_arm_size, $confidence
        ) AS delivery,
        two_proportion_test(
            read_mm, delivered_mm, read_cloud, delivered_cloud,
            accepted_mm, accepted_cloud, $min_arm_size, $confidence
        ) AS reading,
        two_proportion_test(
            read_mm, accepted_mm, read_cloud, accepted_cloud,
            accepted_mm, accepted_cloud, $min_arm_size, $confidence
        ) AS reach,
        cost_mm - cost_cloud * accepted_mm / nullif(accepted_cloud, 0) AS incremental_cost
    FROM paired
)
SELECT
    campaign_id,
    'assigned arm (intention to treat)' AS comparison_basis,
    accepted_mm,
    accepted_cloud,
    coalesce(least(accepted_mm, accepted_cloud) >= $min_arm_size, FALSE) AS arms_large_enough,
    delivered_mm,
    delivered_cloud,
    read_mm,
    read_cloud,
    clicks_mm,
    delivery.rate_a AS delivery_rate_mm,
    delivery.rate_b AS delivery_rate_cloud,
    delivery.difference AS delivery_lift,
    delivery.ci_low AS delivery_lift_ci_low,
    delivery.ci_high AS delivery_lift_ci_high,
    delivery.relative_lift AS delivery_relative_lift,
    delivery.p_value AS delivery_p_value,
    delivery.verdict AS delivery_verdict,
    reading.rate_a AS read_rate_mm,
    reading.rate_b AS read_rate_cloud,
    reading.difference AS read_lift,
    reading.ci_low AS read_lift_ci_low,
    reading.ci_high AS read_lift_ci_high,
    reading.relative_lift AS read_relative_lift,
    reading.p_value AS read_p_value,
    reading.verdict AS read_verdict,
    reach.difference AS reach_lift,
    reach.ci_low AS reach_lift_ci_low,
    reach.ci_high AS reach_lift_ci_high,
    reach.verdict AS reach_verdict,
    currency,
    cost_mm,
    cost_cloud,
    cost_complete,
    cost_is_estimate,
    cost_per_delivered_mm,
    cost_per_delivered_cloud,
    cost_per_read_mm,
    cost_per_read_cloud,
    cost_per_click_mm,
    CASE WHEN delivery.verdict = 'higher' THEN delivery.difference * accepted_mm END
        AS incremental_delivered,
    CASE WHEN reach.verdict = 'higher' THEN reach.difference * accepted_mm END AS incremental_read,
    CASE WHEN cost_complete THEN incremental_cost END AS incremental_cost,
    CASE
        WHEN delivery.verdict = 'higher' AND cost_complete
            THEN incremental_cost / (delivery.difference * accepted_mm)
    END AS cost_per_incremental_delivered,
    CASE
        WHEN reach.verdict = 'higher' AND cost_complete
            THEN incremental_cost / (reach.difference * accepted_mm)
    END AS cost_per_incremental_read,
    fallback_rate_mm,
    contamination_rate_cloud
FROM tested
ORDER BY campaign_id
