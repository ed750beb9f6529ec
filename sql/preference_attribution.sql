-- preference_attribution: one row per distinct user_preferences event (a recipient's stop or
-- resume of marketing messages; duplicates collapse on wa_id, value and time), and the message
-- it is attributed to.
--
-- Rule: a preference event is attributed to the latest message in the ledger sent to that
-- wa_id at or before the event and at most $attribution_days before it; else campaign_id is
-- empty. resumed_later says a stop was followed by a resume of the same wa_id,
-- so a stop that still holds is `value = 'stop' AND NOT resumed_later`.
--
-- Inputs: view `preferences`, table message_status. Parameter: $attribution_days.
CREATE OR REPLACE TABLE preference_attribution AS
WITH distinct_preferences AS (
    SELECT DISTINCT wa_id, lower(value) AS value, ts
    FROM preferences
    WHERE wa_id IS NOT NULL AND ts IS NOT NULL AND value IS NOT NULL
),
resumes AS (
    SELECT wa_id, max(ts) AS last_resume_at
    FROM distinct_preferences
    WHERE value = 'resume'
    GROUP BY wa_id
),
sent_messages AS (
    SELECT recipient, sent_at, wamid, message_key, campaign_id, arm, template_name, country
    FROM message_status
    WHERE in_ledger AND ledger_state = 'accepted' AND sent_at IS NOT NULL
),
-- The latest send to the wa_id within the window before the event (ties: lowest message_key).
attributed AS (
    SELECT
        p.wa_id,
        p.value,
        p.ts,
        m.wamid,
        m.message_key,
        m.campaign_id,
        m.arm,
        m.template_name,
        m.country,
        m.sent_at
    FROM distinct_preferences AS p
    JOIN sent_messages AS m
        ON m.recipient = p.wa_id
        AND m.sent_at <= p.ts
        AND m.sent_at >= p.ts - to_days(CAST($attribution_days AS INTEGER))
    QUALIFY row_number() OVER (
        PARTITION BY p.wa_id, p.value, p.ts ORDER BY m.sent_at DESC, m.message_key
    ) = 1
)
SELECT
    p.wa_id,
    p.value,
    p.ts,
    p.value = 'stop' AND coalesce(r.last_resume_at > p.ts, FALSE) AS resumed_later,
    a.wamid,
    a.message_key,
    a.campaign_id,
    a.arm,
    a.template_name,
    a.country,
    a.sent_at
FROM distinct_preferences AS p
LEFT JOIN attributed AS a ON a.wa_id = p.wa_id AND a.value = p.value AND a.ts = p.ts
LEFT JOIN resumes AS r ON r.wa_id = p.wa_id
ORDER BY p.wa_id, p.ts, p.value
