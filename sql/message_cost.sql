-- message_cost (a view): one row per billable message (see message_status.billable) and its
-- price, computed when read, so the database does not hold a second copy of every message.
--
-- price = the rate card's rate for the message's country and pricing category in force when it
-- was delivered (the latest valid_from at or before delivered_at), or, for a template on max
-- price (a cap row in the rate card for its template and category), the cap per message:
-- an upper bound, marked price_is_upper_bound. No rate means no price, never 0; the reason is in
-- unpriced_reason: no_country, no_pricing_category or no_rate (rate_gaps sums them).
--
-- Inputs: tables message_status, rate_card.
CREATE OR REPLACE VIEW message_cost AS
WITH billable AS (
    SELECT
        wamid,
        message_key,
        in_ledger,
        campaign_id,
        arm,
        template_name,
        country,
        pricing_category,
        delivered_at AS charged_at
    FROM message_status
    WHERE billable
),
-- Each rate applies from its valid_from until the next row's for the same key.
rates AS (
    SELECT
        country,
        pricing_category,
        valid_from,
        lead(valid_from) OVER (
            PARTITION BY country, pricing_category ORDER BY valid_from
        ) AS valid_until,
        currency,
        price,
        source,
        is_example
    FROM rate_card
    WHERE template_name IS NULL
),
caps AS (
    SELECT
        template_name,
        pricing_category,
        valid_from,
        lead(valid_from) OVER (
            PARTITION BY template_name, pricing_category ORDER BY valid_from
        ) AS valid_until,
        currency,
        cap_price,
        source,
        is_example
    FROM rate_card
    WHERE template_name IS NOT NULL
),
priced AS (
    SELECT
        b.*,
        r.price AS rate_price,
        c.cap_price,
        coalesce(c.currency, r.currency) AS currency,
        CASE WHEN c.cap_price IS NOT NULL THEN c.source ELSE r.source END AS rate_source,
        CASE WHEN c.cap_price IS NOT NULL THEN c.is_example ELSE r.is_example END
            AS rate_is_example
    FROM billable AS b
    LEFT JOIN rates AS r
        ON b.country = r.country
        AND b.pricing_category = r.pricing_category
        AND b.charged_at >= r.valid_from
        AND (r.valid_until IS NULL OR b.charged_at < r.valid_until)
    LEFT JOIN caps AS c
        ON b.template_name = c.template_name
        AND b.pricing_category = c.pricing_category
        AND b.charged_at >= c.valid_from
        AND (c.valid_until IS NULL OR b.charged_at < c.valid_until)
)
SELECT
    wamid,
    message_key,
    in_ledger,
    campaign_id,
    arm,
    template_name,
    country,
    pricing_category,
    charged_at,
    coalesce(cap_price, rate_price) AS price,
    currency,
    CASE
        WHEN cap_price IS NOT NULL THEN 'max_price_cap'
        WHEN rate_price IS NOT NULL THEN 'rate_card'
    END AS price_basis,
    cap_price IS NOT NULL AS price_is_upper_bound,
    rate_is_example,
    rate_source,
    CASE
        WHEN coalesce(cap_price, rate_price) IS NOT NULL THEN NULL
        WHEN country IS NULL THEN 'no_country'
        WHEN pricing_category IS NULL THEN 'no_pricing_category'
        ELSE 'no_rate'
    END AS unpriced_reason
FROM priced
