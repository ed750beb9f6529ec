-- failure_reasons: per campaign, assigned arm and error code, the messages with a failed event.
--   failed                 final_status failed (never delivered)
--   failed_after_delivery  delivered, then a failed event (final_status delivered or read)
--   share_of_accepted      failed / accepted of the campaign's arm
-- The code is the one of the message's first failed event.
--
-- Inputs: tables message_status and message_counts (accepted per arm, without another pass over
-- every message).
CREATE OR REPLACE TABLE failure_reasons AS
WITH arms AS (
    SELECT campaign_id, arm, sum(accepted) AS accepted
    FROM message_counts
    GROUP BY campaign_id, arm
),
failures AS (
    SELECT
        campaign_id,
        arm,
        error_code,
        min(error_title) AS error_title,
        count(*) FILTER (WHERE final_status = 'failed') AS failed,
        count(*) FILTER (WHERE failed_after_delivery) AS failed_after_delivery
    FROM message_status
    WHERE in_ledger AND ever_failed
    GROUP BY campaign_id, arm, error_code
)
SELECT
    f.*,
    f.failed / nullif(a.accepted, 0) AS share_of_accepted
FROM failures AS f
JOIN arms AS a ON a.campaign_id = f.campaign_id AND a.arm = f.arm
ORDER BY f.campaign_id, f.arm, f.failed DESC, f.error_code
