-- other_rows (filled): clicks, preferences, account updates and structure problems, from the
-- changes in other_changes (file_id, line_offset, other_json), an Arrow table the caller
-- registers: the marker rows of status_rows.sql, whose other_json is a change read by that query
-- with where it sits (its line's receive time and object, its entry's index, id and time, the
-- counts of entries and changes, its own index; an index is NULL for a line or entry without
-- entries or changes, which has one marker with a NULL change). $structure types it. Changes
-- that hold statuses only and break no line, entry or change rule (nearly all of them) have no
-- marker: they add no row here.
-- Run with preserve_insertion_order, rows are inserted in the order of other_changes (files,
-- then lines, entries and changes), then of items, so the table's rowid is that order (the
-- deduplication keeps the first copy by it).
INSERT INTO other_rows
WITH marked AS (
    SELECT file_id, line_offset, json_transform(other_json, $structure) AS m
    FROM other_changes
),
changes AS (
    SELECT
        file_id,
        line_offset,
        m.received_at_text,
        try_cast(m.received_at_text AS TIMESTAMPTZ) AS received_at,
        m.object,
        m.entry_count,
        m.i,
        m.entry_null,
        m.waba_id,
        m.entry_time,
        m.change_count,
        m.c,
        m.j
    FROM marked
),
structured AS (
    SELECT
        *,
        CASE
            WHEN received_at_text IS NOT NULL AND received_at IS NULL
                THEN format('_mmflow.received_at: not a timestamp ({})', left(received_at_text, 40))
            WHEN object IS NOT NULL AND object <> 'whatsapp_business_account'
                THEN format('object: not whatsapp_business_account ({})', left(object, 40))
            WHEN entry_count IS NULL THEN 'entry: missing'
            WHEN entry_count = 0 THEN 'entry: empty'
            WHEN entry_null THEN format('entry[{}]: null', i)
            WHEN coalesce(waba_id, '') = '' THEN format('entry[{}].id: missing', i)
            WHEN change_count IS NULL THEN format('entry[{}].changes: missing', i)
            WHEN change_count = 0 THEN format('entry[{}].changes: empty', i)
            WHEN c IS NULL THEN format('entry[{}].changes[{}]: null', i, j)
            WHEN coalesce(c.field, '') = ''
                THEN format('entry[{}].changes[{}].field: missing', i, j)
            WHEN c.value IS NULL THEN format('entry[{}].changes[{}].value: missing', i, j)
        END AS structure_problem
    FROM changes
),
listed AS (
    SELECT
        *,
        list_concat(
            list_transform(c.value.user_actions, lambda a, n: {
                'output_table': 'clicks', 'key': 'user_actions', 'k': n - 1,
                'present': a IS NOT NULL, 'timestamp': a.timestamp,
                'action_type': a.action_type,
                'click_id': a.marketing_messages_link_click_data.click_id,
                'click_component': a.marketing_messages_link_click_data.click_component,
                'product_id': a.marketing_messages_link_click_data.product_id,
                'tracking_token': a.marketing_messages_link_click_data.tracking_token,
                'client_user_agent': a.marketing_messages_link_click_data.client_user_agent,
                'wa_id': NULL::VARCHAR, 'value': NULL::VARCHAR, 'category': NULL::VARCHAR}),
            list_transform(c.value.user_preferences, lambda p, n: {
                'output_table': 'preferences', 'key': 'user_preferences', 'k': n - 1,
                'present': p IS NOT NULL, 'timestamp': p.timestamp,
                'action_type': NULL::VARCHAR, 'click_id': NULL::VARCHAR,
                'click_component': NULL::VARCHAR, 'product_id': NULL::VARCHAR,
                'tracking_token': NULL::VARCHAR, 'client_user_agent': NULL::VARCHAR,
                'wa_id': p.wa_id, 'value': p.value, 'category': p.category})
        ) AS xs
    FROM structured
    WHERE structure_problem IS NOT NULL
        OR c.field <> 'messages'
        OR len(c.value.user_actions) > 0
        OR len(c.value.user_preferences) > 0
),
items AS (
    SELECT
        file_id, line_offset, received_at, i, waba_id, entry_time, j, structure_problem,
        c.field AS field,
        c.value.metadata.phone_number_id AS phone_number_id,
        c.value.event AS event,
        c.value.waba_info AS waba_info,
        c.value.message_template_id AS message_template_id,
        c.value.message_template_name AS message_template_name,
        c.value.message_template_language AS message_template_language,
        c.value.previous_category AS previous_category,
        c.value.new_category AS new_category,
        c.value.correct_category AS correct_category,
        unnest(CASE WHEN len(xs) > 0 THEN xs ELSE [NULL] END) AS x
    FROM listed
),
typed AS (
    SELECT
        *,
        CASE WHEN regexp_full_match(x.timestamp, '[0-9]{1,11}')
            THEN x.timestamp::BIGINT END AS item_seconds,
        CASE WHEN regexp_full_match(entry_time, '[0-9]{1,11}')
            THEN entry_time::BIGINT END AS entry_seconds,
        CASE
            WHEN x IS NOT NULL THEN x.output_table
            WHEN field IN ('account_update', 'template_category_update') THEN 'account_updates'
        END AS output_table,
        coalesce(field NOT IN (
            'messages', 'user_preferences', 'account_update', 'template_category_update'
        ), false) AS ignored
    FROM items
),
timed AS (
    SELECT
        *,
        CASE
            WHEN x IS NOT NULL THEN item_seconds
            WHEN output_table = 'account_updates'
                THEN coalesce(entry_seconds, epoch(received_at)::BIGINT)
        END AS seconds
    FROM typed
),
checked AS (
    SELECT
        *,
        CASE
            WHEN structure_problem IS NOT NULL THEN structure_problem
            WHEN x IS NOT NULL AND NOT x.present
                THEN format('entry[{}].changes[{}].value.{}[{}]: null', i, j, x.key, x.k)
            WHEN x.output_table = 'clicks' AND coalesce(x.action_type, '') = ''
                THEN format('entry[{}].changes[{}].value.{}[{}].action_type: missing',
                    i, j, x.key, x.k)
            WHEN x.output_table = 'preferences' AND coalesce(x.wa_id, '') = ''
                THEN format('entry[{}].changes[{}].value.{}[{}].wa_id: missing', i, j, x.key, x.k)
            WHEN x.output_table = 'preferences' AND coalesce(x.value, '') = ''
                THEN format('entry[{}].changes[{}].value.{}[{}].value: missing', i, j, x.key, x.k)
            WHEN x IS NOT NULL AND item_seconds IS NULL
                THEN format('entry[{}].changes[{}].value.{}[{}].timestamp: not Unix seconds ({})',
                    i, j, x.key, x.k, coalesce(left(x.timestamp, 40), 'missing'))
            WHEN x IS NOT NULL AND item_seconds NOT BETWEEN $min_seconds AND $max_seconds
                THEN format('entry[{}].changes[{}].value.{}[{}].timestamp: out of range ({})',
                    i, j, x.key, x.k, x.timestamp)
            WHEN field = 'account_update' AND coalesce(event, '') = ''
                THEN format('entry[{}].changes[{}].value.event: missing', i, j)
            WHEN output_table = 'account_updates' AND entry_time IS NOT NULL
                AND coalesce(entry_seconds NOT BETWEEN $min_seconds AND $max_seconds, true)
                THEN format('entry[{}].time: not Unix seconds ({})', i, left(entry_time, 40))
            WHEN output_table = 'account_updates' AND seconds IS NULL
                THEN format('entry[{}].time: missing, and no receive time', i)
        END AS problem
    FROM timed
)
SELECT
    file_id,
    line_offset,
    i,
    j,
    x.k,
    received_at,
    output_table,
    ignored,
    field,
    CASE WHEN output_table = 'account_updates'
        THEN coalesce(try(json_extract_string(waba_info, '$.waba_id')), waba_id)
        ELSE waba_id END AS waba_id,
    phone_number_id,
    CASE WHEN seconds BETWEEN $min_seconds AND $max_seconds
        THEN to_timestamp(seconds) END AS ts,
    CASE WHEN seconds BETWEEN $min_seconds AND $max_seconds
        THEN DATE '1970-01-01' + (seconds // 86400)::INTEGER END AS dt,
    x.action_type,
    x.click_id,
    lower(x.click_component) AS click_component,
    x.product_id,
    x.tracking_token,
    x.client_user_agent,
    x.wa_id,
    x.value AS preference_value,
    x.category AS preference_category,
    event,
    waba_info,
    message_template_id,
    message_template_name,
    message_template_language,
    previous_category,
    new_category,
    correct_category,
    problem
FROM checked
WHERE output_table IS NOT NULL OR ignored OR problem IS NOT NULL;
