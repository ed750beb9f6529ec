-- status_rows: every statuses[] element in the files $paths, one row each, read by DuckDB over
-- whole files with the explicit schema $columns (containers typed, scalars as text) and
-- flattened with unnest. Scalars are typed here; `problem` names the first rule an element
-- breaks, with its JSON path. A line whose containers do not fit the schema makes the whole read
-- fail (the caller then takes the careful path, line by line). Fetched as Arrow, in the shape
-- of mmapi.landing.schema.STATUS_ROWS_SCHEMA: the bulk of a batch is never copied into a table.
-- The source file's name is not repeated in every row: source_index ($source_indexes[n] for
-- $paths[n]) is its place in the caller's list. Run with preserve_insertion_order, rows
-- come in the order of $paths, then of lines, entries, changes and statuses: the deduplication
-- keeps the first copy by that order. $file_ids[n] is the number of the file $paths[n] (a
-- lookup rather than a join: a join would not keep the order).
WITH lines AS (
    SELECT
        $file_ids[list_position($paths, l.filename)] AS file_id,
        $source_indexes[list_position($paths, l.filename)]::INTEGER AS source_index,
        l._mmflow_offset AS line_offset,
        try_cast(l._mmflow.received_at AS TIMESTAMPTZ) AS received_at,
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
        file_id, source_index, line_offset, received_at,
        unnest(entry) AS e,
        generate_subscripts(entry, 1) - 1 AS i
    FROM lines
),
changes AS (
    SELECT
        file_id, source_index, line_offset, received_at, i,
        e.id AS waba_id,
        unnest(e.changes) AS c,
        generate_subscripts(e.changes, 1) - 1 AS j
    FROM entries
),
statuses AS (
    SELECT
        file_id, source_index, line_offset, received_at, i, j, waba_id,
        c.value.metadata.phone_number_id AS phone_number_id,
        unnest(c.value.statuses) AS s,
        generate_subscripts(c.value.statuses, 1) - 1 AS k
    FROM changes
    WHERE c.field = 'messages'
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
    FROM statuses
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
    END AS problem
FROM typed;
