-- status_rows: every statuses[] element in the files $paths, one row each, read by DuckDB over
-- whole files with the explicit schema $columns (containers typed, scalars as text) and
-- flattened with unnest. Scalars are typed here; `problem` names the first rule an element
-- breaks, with its JSON path. A line whose containers do not fit the schema makes the whole read
-- fail (the caller then takes the careful path, line by line). Fetched as Arrow, in the shape
-- of mmapi.landing.schema.STATUS_ROWS_SCHEMA: the bulk of a batch is never copied into a table.
-- This is the batch's only parse of the JSON. Each change other_rows.sql must see (a click, a
-- preference, a change other than `messages`, or one on a line, entry or change that breaks a
-- structure rule: the negation of its filter) adds one more row, its marker: no status, k one
-- past the change's last status, and `other_json` holding the change with where it sits, as
-- JSON, which other_rows.sql reads instead of the file. `other_json` is NULL on every other
-- row; nearly all changes are statuses only and have none. Markers are made by padding: unnest
-- fills the shorter of two lists with NULL, so an index list one longer than the list of
-- statuses (or entries, or changes, for a line or entry with none) adds the row without a
-- copy of the (big) nested lists, which a CASE on them would make.
-- The source file's name is not repeated in every row: source_index ($source_indexes[n] for
-- $paths[n]) is its place in the caller's list. Run with preserve_insertion_order, rows
-- come in the order of $paths, then of lines, entries, changes and statuses: the deduplication
-- keeps the first copy by it. $file_ids[n] is the number of the file $paths[n] (a
-- lookup rather than a join: a join would not keep the order).
WITH lines AS (
    SELECT
        $file_ids[list_position($paths, l.filename)] AS file_id,
        $source_indexes[list_position($paths, l.filename)]::INTEGER AS source_index,
        l._mmflow_offset AS line_offset,
        l._mmflow.received_at AS received_at_text,
        try_cast(l._mmflow.received_at AS TIMESTAMPTZ) AS received_at,
        l.object,
        len(l.entry) AS entry_count,
        l.entry
    FROM read_json(
        $paths,
        format = 'newline_delimited',
        columns = $columns,
        filename = true,
        maximum_object_size = $max_line_bytes
    ) AS l
),
entries AS (
    SELECT
        file_id, source_index, line_offset, received_at_text, received_at, object, entry_count,
        unnest(entry) AS e,
        unnest(range(coalesce(entry_count, 0) + (coalesce(entry_count, 0) = 0)::INTEGER)) AS i
    FROM lines
),
changes AS (
    SELECT
        file_id, source_index, line_offset, received_at_text, received_at, object, entry_count,
        CASE WHEN entry_count > 0 THEN i END AS i,
        e IS NULL AS entry_null,
        e.id AS waba_id,
        e.time AS entry_time,
        len(e.changes) AS change_count,
        unnest(e.changes) AS c,
        unnest(range(
            coalesce(len(e.changes), 0) + (coalesce(len(e.changes), 0) = 0)::INTEGER)) AS j
    FROM entries
),
flagged AS (
    SELECT
        file_id, source_index, line_offset, received_at, i, waba_id, c,
        CASE WHEN change_count > 0 THEN j END AS j,
        CASE WHEN coalesce(
            (received_at_text IS NOT NULL AND received_at IS NULL)
            OR object <> 'whatsapp_business_account'
            OR coalesce(entry_count, 0) = 0
            OR entry_null
            OR coalesce(waba_id, '') = ''
            OR coalesce(change_count, 0) = 0
            OR c IS NULL
            OR coalesce(c.field, '') <> 'messages'
            OR c.value IS NULL
            OR len(c.value.user_actions) > 0
            OR len(c.value.user_preferences) > 0,
            false)
        THEN to_json({
            'received_at_text': received_at_text,
            'object': object,
            'entry_count': entry_count,
            'i': CASE WHEN entry_count > 0 THEN i END,
            'entry_null': entry_null,
            'waba_id': waba_id,
            'entry_time': entry_time,
            'change_count': change_count,
            'j': CASE WHEN change_count > 0 THEN j END,
            -- The change less its statuses: to_json of the whole change was measured at a
            -- third of the read's CPU, however few the markers.
            'c': CASE WHEN c IS NOT NULL THEN {
                'field': c.field,
                'value': CASE WHEN c.value IS NOT NULL THEN {
                    'metadata': c.value.metadata,
                    'user_actions': c.value.user_actions,
                    'user_preferences': c.value.user_preferences,
                    'event': c.value.event,
                    'waba_info': c.value.waba_info,
                    'message_template_id': c.value.message_template_id,
                    'message_template_name': c.value.message_template_name,
                    'message_template_language': c.value.message_template_language,
                    'previous_category': c.value.previous_category,
                    'new_category': c.value.new_category,
                    'correct_category': c.value.correct_category
                } END
            } END
        }) END AS other_json
    FROM changes
),
statuses AS (
    SELECT
        file_id, source_index, line_offset, received_at, i, j, waba_id, other_json,
        coalesce(c.field = 'messages', false) AS messages,
        coalesce(len(c.value.statuses), 0) AS status_count,
        c.value.metadata.phone_number_id AS phone_number_id,
        unnest(c.value.statuses) AS s,
        unnest(range(
            coalesce(len(c.value.statuses), 0) + (other_json IS NOT NULL)::INTEGER)) AS k
    FROM flagged
    WHERE c.field = 'messages' OR other_json IS NOT NULL
),
marked AS (
    SELECT
        * EXCLUDE (other_json),
        CASE WHEN k = status_count THEN other_json END AS other_json
    FROM statuses
    WHERE messages OR k = status_count
),
typed AS (
    SELECT
        *,
        CASE WHEN regexp_full_match(s.timestamp, '[0-9]{1,11}')
            THEN s.timestamp::BIGINT END AS seconds,
        CASE WHEN regexp_full_match(s.conversation.expiration_timestamp, '[0-9]{1,11}')
            THEN s.conversation.expiration_timestamp::BIGINT END AS expiration_seconds,
        s.errors[1] AS first_error,
        list_bool_or(list_transform(
            s.errors,
            lambda x: x IS NULL OR NOT regexp_full_match(coalesce(x.code, ''), '-?[0-9]{1,18}')
        )) AS bad_error
    FROM marked
)
SELECT
    file_id,
    source_index,
    line_offset,
    i,
    j,
    k,
    received_at,
    waba_id,
    phone_number_id,
    s.id AS wamid,
    s.status AS status,
    CASE WHEN seconds BETWEEN $min_seconds AND $max_seconds
        THEN to_timestamp(seconds) END AS ts,
    CASE WHEN seconds BETWEEN $min_seconds AND $max_seconds
        THEN DATE '1970-01-01' + (seconds // 86400)::INTEGER END AS dt,
    s.recipient_id,
    CASE lower(s.pricing.billable) WHEN 'true' THEN true WHEN 'false' THEN false END
        AS pricing_billable,
    s.pricing.pricing_model,
    s.pricing.category AS pricing_category,
    s.pricing.type AS pricing_type,
    try_cast(first_error.code AS BIGINT) AS error_code,
    first_error.title AS error_title,
    first_error.message AS error_message,
    first_error.error_data.details AS error_details,
    s.biz_opaque_callback_data,
    s.conversation.id AS conversation_id,
    s.conversation.origin.type AS conversation_origin_type,
    CASE WHEN expiration_seconds BETWEEN $min_seconds AND $max_seconds
        THEN to_timestamp(expiration_seconds) END AS conversation_expiration_ts,
    CASE
        WHEN other_json IS NOT NULL THEN NULL
        WHEN s IS NULL
            THEN format('entry[{}].changes[{}].value.statuses[{}]: null', i, j, k)
        WHEN coalesce(s.id, '') = ''
            THEN format('entry[{}].changes[{}].value.statuses[{}].id: missing', i, j, k)
        WHEN coalesce(s.status, '') = ''
            THEN format('entry[{}].changes[{}].value.statuses[{}].status: missing', i, j, k)
        WHEN seconds IS NULL
            THEN format(
                'entry[{}].changes[{}].value.statuses[{}].timestamp: not Unix seconds ({})',
                i, j, k, coalesce(left(s.timestamp, 40), 'missing'))
        WHEN seconds NOT BETWEEN $min_seconds AND $max_seconds
            THEN format(
                'entry[{}].changes[{}].value.statuses[{}].timestamp: out of range ({})',
                i, j, k, s.timestamp)
        WHEN s.pricing.billable IS NOT NULL AND lower(s.pricing.billable) NOT IN ('true', 'false')
            THEN format(
                'entry[{}].changes[{}].value.statuses[{}].pricing.billable: not a boolean ({})',
                i, j, k, left(s.pricing.billable, 40))
        WHEN bad_error
            THEN format(
                'entry[{}].changes[{}].value.statuses[{}].errors: code missing or not an integer',
                i, j, k)
        WHEN s.conversation.expiration_timestamp IS NOT NULL
            AND coalesce(expiration_seconds NOT BETWEEN $min_seconds AND $max_seconds, true)
            THEN format(
                'entry[{}].changes[{}].value.statuses[{}].conversation.expiration_timestamp: '
                || 'not Unix seconds ({})',
                i, j, k, left(s.conversation.expiration_timestamp, 40))
    END AS problem,
    other_json
FROM typed;
