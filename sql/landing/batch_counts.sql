-- batch_counts: what a batch's files held, before deduplication: status events (not the marker
-- rows of status_rows), other rows by table, lines with a problem, and changes of kinds not
-- landed.
SELECT
    (SELECT count(*) FROM status_rows WHERE other_json IS NULL) AS status_events,
    (SELECT count(*) FROM other_rows WHERE output_table = 'clicks') AS click_events,
    (SELECT count(*) FROM other_rows WHERE output_table = 'preferences') AS preference_events,
    (SELECT count(*) FROM other_rows WHERE output_table = 'account_updates')
        AS account_update_events,
    (SELECT count(*) FROM other_rows WHERE ignored AND problem IS NULL) AS ignored_changes,
    (SELECT count(*) FROM line_problems) AS problem_lines;
