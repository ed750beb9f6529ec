-- report_as_of: the default "as of" time of a report: the latest time in its inputs (a status,
-- click or preference event, or a send). Taking it from the data, not the clock, makes a
-- re-run on the same inputs give the same tables; pass as_of to judge TTLs against another time.
--
-- Inputs: views sends, statuses, clicks, preferences.
SELECT max(latest) AS as_of
FROM (
    SELECT max(ts) AS latest FROM statuses
    UNION ALL
    SELECT max(ts) FROM clicks
    UNION ALL
    SELECT max(ts) FROM preferences
    UNION ALL
    SELECT max(greatest(sent_at, finished_at)) FROM sends
)
