-- message_status: one row per message known from the sends (the ledger) or from status webhooks.
--
-- final_status rule. Events may arrive in any order and more than once: only which kinds of
-- event a message has, and their timestamps, count; never their arrival order or their number.
--   1. read       if any `read` event (a read implies delivery, even with no `delivered` event);
--   2. delivered  else if any `delivered` event;
--   3. failed     else if any `failed` event;
--   4. expired    else if the message had a TTL (ledger ttl_seconds) and it has passed with no
--                 delivery: expires_at = sent_at + ttl_seconds < $as_of;
--   5. sent       else if a `sent` event exists;
--   6. accepted   else (accepted by the API, no webhook yet).
-- A ledger row the API never accepted (state planned, in_flight, rejected or unknown) has no
-- wamid and so no event: its final_status is its ledger state.
-- failed_after_delivery: a failed event on a message that was delivered; its final_status stays
-- delivered or read, and error_code still says why it failed.
-- Webhooks for wamids in no ledger are kept (in_ledger = false), never dropped; reconciliation
-- counts them and unknown_wamids lists them.
-- billable: delivered, and no pricing object of the message says it is free (billable = false
-- or a `free_*` type). pricing_category: from delivered/read events first, then from `sent`;
-- one outside marketing_lite, marketing, utility, authentication, service is shown as `other`.
-- route: the route the message took, from pricing_category: marketing_lite = mm, other = cloud.
--
-- Statuses are matched as Meta sends them (lowercase). The aggregation over the events is the
-- report's heaviest step (tens of millions of events), so it is kept to numbers and few
-- aggregates: a status kind code, a pricing category code, and flags folded into bits; names are
-- joined back afterwards:
--   flags          bit_or of 2^kind (sent 2, delivered 4, read 8, failed 16) and 32 when a
--                  pricing object says the message is free;
--   category_rank  the category code, plus 16 when it comes from a `sent` (or other) event, so
--                  the minimum prefers the category billed at delivery; modulo 16 is the code;
--   first_failure  the earliest failed event with an error code as one number (event time in
--                  microseconds, then the code): its minimum is the first failure, and of two
--                  failures at the same time, the lower code, so re-runs agree.
--
-- The table has one row per message and no order (sorting millions of rows for nothing costs
-- seconds): order it when you read it.
--
-- Inputs: views `sends` and `statuses`. Parameter: $as_of, the time the report is as of.
CREATE OR REPLACE TABLE message_status AS
WITH event_rows AS (
    SELECT
        wamid,
        ts,
        CASE status
            WHEN 'sent' THEN 1
            WHEN 'delivered' THEN 2
            WHEN 'read' THEN 3
            WHEN 'failed' THEN 4
            ELSE 0
        END AS kind,
        error_code,
        -- Categories as small codes: numbers aggregate much faster than text.
        CASE pricing_category
            WHEN 'marketing_lite' THEN 1
            WHEN 'marketing' THEN 2
            WHEN 'utility' THEN 3
            WHEN 'authentication' THEN 4
            WHEN 'service' THEN 5
            ELSE CASE WHEN pricing_category IS NOT NULL THEN 9 END
        END AS category_code,
        -- The pricing object says the message is free: billable false, or a free_* type.
        coalesce(pricing_billable = FALSE, FALSE)
            OR coalesce(starts_with(pricing_type, 'free'), FALSE) AS says_free,
        phone_number_id
    FROM statuses
    WHERE wamid IS NOT NULL
),
per_message AS (
    SELECT
        wamid,
        count(*) AS webhook_events,
        min(ts) AS first_event_at,
        bit_or((1 << kind) | CASE WHEN says_free THEN 32 ELSE 0 END) AS flags,
        min(CASE WHEN kind IN (2, 3) THEN ts END) AS delivered_at,
        min(CASE WHEN kind = 3 THEN ts END) AS read_at,
        min(
            CASE
                WHEN kind = 4 AND error_code IS NOT NULL
                    THEN CAST(epoch_us(ts) AS HUGEINT) * 18446744073709551616
                        + (CAST(error_code AS HUGEINT) + 9223372036854775808)
            END
        ) AS first_failure,
        min(category_code + CASE WHEN kind IN (2, 3) THEN 0 ELSE 16 END) AS category_rank,
        -- The business number is the same on every event of a message: `sent` is enough.
        min(phone_number_id) FILTER (WHERE kind = 1) AS phone_number_id
    FROM event_rows
    GROUP BY wamid
),
events AS (
    SELECT
        wamid,
        webhook_events,
        first_event_at,
        flags & 2 <> 0 AS ever_sent,
        delivered_at,
        read_at,
        flags & 16 <> 0 AS ever_failed,
        -- The first failure explains it.
        -- The low 64 bits (counted up from 0 for a time before 1970) minus the offset.
        CAST(
            (first_failure % 18446744073709551616 + 18446744073709551616) % 18446744073709551616
                - 9223372036854775808
            AS BIGINT
        ) AS error_code,
        category_rank % 16 AS category_code,
        flags & 32 <> 0 AS says_free,
        phone_number_id
    FROM per_message
),
error_titles AS (
    SELECT error_code, min(error_title) AS error_title
    FROM statuses
    WHERE status = 'failed' AND error_code IS NOT NULL
    GROUP BY error_code
),
joined AS (
    SELECT
        s.message_key,
        coalesce(s.wamid, e.wamid) AS wamid,
        s.campaign_id,
        s.arm,
        s.recipient,
        s.country,
        s.template_name,
        s.state AS ledger_state,
        s.message_status AS ledger_message_status,
        s.message_key IS NOT NULL AS in_ledger,
        e.wamid IS NOT NULL AS has_webhook,
        coalesce(e.webhook_events, 0) AS webhook_events,
        s.sent_at,
        coalesce(s.sent_at, s.finished_at) + to_seconds(s.ttl_seconds) AS expires_at,
        e.first_event_at,
        e.delivered_at,
        e.read_at,
        coalesce(e.ever_sent, FALSE) AS ever_sent,
        e.delivered_at IS NOT NULL AS ever_delivered,
        e.read_at IS NOT NULL AS ever_read,
        coalesce(e.ever_failed, FALSE) AS ever_failed,
        e.error_code,
        CASE e.category_code
            WHEN 1 THEN 'marketing_lite'
            WHEN 2 THEN 'marketing'
            WHEN 3 THEN 'utility'
            WHEN 4 THEN 'authentication'
            WHEN 5 THEN 'service'
            WHEN 9 THEN 'other'
        END AS pricing_category,
        coalesce(e.says_free, FALSE) AS says_free,
        e.phone_number_id
    FROM sends AS s
    FULL OUTER JOIN events AS e ON s.wamid = e.wamid
)
SELECT
    j.message_key,
    j.wamid,
    j.campaign_id,
    j.arm,
    j.recipient,
    j.country,
    j.template_name,
    j.ledger_state,
    j.ledger_message_status,
    j.in_ledger,
    j.has_webhook,
    j.webhook_events,
    j.sent_at,
    j.expires_at,
    j.first_event_at,
    j.delivered_at,
    j.read_at,
    j.ever_sent,
    j.ever_delivered,
    j.ever_read,
    j.ever_failed,
    j.ever_failed AND j.ever_delivered AS failed_after_delivery,
    j.error_code,
    t.error_title,
    j.pricing_category,
    CASE
        WHEN j.pricing_category IS NULL THEN NULL
        WHEN j.pricing_category = 'marketing_lite' THEN 'mm'
        ELSE 'cloud'
    END AS route,
    j.ever_delivered AND NOT j.says_free AS billable,
    j.phone_number_id,
    CASE
        WHEN j.ever_read THEN 'read'
        WHEN j.ever_delivered THEN 'delivered'
        WHEN j.ever_failed THEN 'failed'
        WHEN j.in_ledger AND j.ledger_state <> 'accepted' AND NOT j.has_webhook THEN j.ledger_state
        WHEN j.expires_at < CAST($as_of AS TIMESTAMPTZ) THEN 'expired'
        WHEN j.ever_sent THEN 'sent'
        ELSE 'accepted'
    END AS final_status,
    final_status = 'expired' AS expired
FROM joined AS j
LEFT JOIN error_titles AS t ON t.error_code = j.error_code
