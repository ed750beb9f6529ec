-- report_parameters: the settings the tables were built with (one row), so a reader of
-- analytics.duckdb knows what "as of" and which windows its numbers mean.
CREATE OR REPLACE TABLE report_parameters AS
SELECT
    CAST($as_of AS TIMESTAMPTZ) AS as_of,
    CAST($attribution_days AS INTEGER) AS attribution_days,
    CAST($no_webhook_after_hours AS DOUBLE) AS no_webhook_after_hours,
    CAST($curve_hours AS INTEGER) AS curve_hours,
    CAST($min_arm_size AS BIGINT) AS min_arm_size,
    CAST($confidence AS DOUBLE) AS confidence,
    CAST($rate_card AS VARCHAR) AS rate_card,
    CAST($sends_files AS BIGINT) AS sends_files,
    CAST($status_files AS BIGINT) AS status_files,
    CAST($click_files AS BIGINT) AS click_files,
    CAST($preference_files AS BIGINT) AS preference_files,
    CAST($quarantined_events AS BIGINT) AS quarantined_events
