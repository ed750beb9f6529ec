-- line_checks: why each raw line of the careful path cannot be read as a webhook body (NULL when
-- it can): not UTF-8, not JSON, not an object, or an object or array of the read schemas
-- (mmapi/landing/schema.py) holding something else. raw_lines is an Arrow table of
-- (line_offset, line) registered by the caller. The paths are the schemas' containers, listed
-- here literally (JSON paths with wildcards must be constants); a test keeps them in step.
-- Lines over $max_line_bytes are left to the read itself, which refuses them by size.
SELECT
    line_offset,
    CASE
        WHEN octet_length(line) > $max_line_bytes THEN NULL
        WHEN text IS NULL THEN 'not valid UTF-8'
        WHEN NOT json_valid(text) THEN 'not valid JSON'
        WHEN json_type(text) <> 'OBJECT'
            THEN 'not a JSON object (' || lower(json_type(text)) || ')'
        WHEN coalesce(json_type(text, '$._mmflow'), 'NULL') NOT IN ('OBJECT', 'NULL')
            THEN '_mmflow: not an object'
        WHEN coalesce(json_type(text, '$.entry'), 'NULL') NOT IN ('ARRAY', 'NULL')
            THEN 'entry: not an array'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*]'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*]: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes'),
                lambda t: coalesce(t, 'NULL') IN ('ARRAY', 'NULL')))
            THEN 'entry[*].changes: not an array'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*]'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*]: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.metadata'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value.metadata: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.statuses'),
                lambda t: coalesce(t, 'NULL') IN ('ARRAY', 'NULL')))
            THEN 'entry[*].changes[*].value.statuses: not an array'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.statuses[*]'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value.statuses[*]: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.statuses[*].conversation'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value.statuses[*].conversation: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.statuses[*].conversation.origin'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value.statuses[*].conversation.origin: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.statuses[*].errors'),
                lambda t: coalesce(t, 'NULL') IN ('ARRAY', 'NULL')))
            THEN 'entry[*].changes[*].value.statuses[*].errors: not an array'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.statuses[*].errors[*]'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value.statuses[*].errors[*]: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.statuses[*].errors[*].error_data'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value.statuses[*].errors[*].error_data: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.statuses[*].pricing'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value.statuses[*].pricing: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.user_actions'),
                lambda t: coalesce(t, 'NULL') IN ('ARRAY', 'NULL')))
            THEN 'entry[*].changes[*].value.user_actions: not an array'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.user_actions[*]'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value.user_actions[*]: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.user_actions[*].marketing_messages_link_click_data'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value.user_actions[*].marketing_messages_link_click_data: not an object'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.user_preferences'),
                lambda t: coalesce(t, 'NULL') IN ('ARRAY', 'NULL')))
            THEN 'entry[*].changes[*].value.user_preferences: not an array'
        WHEN NOT list_bool_and(list_transform(
                json_type(text, '$.entry[*].changes[*].value.user_preferences[*]'),
                lambda t: coalesce(t, 'NULL') IN ('OBJECT', 'NULL')))
            THEN 'entry[*].changes[*].value.user_preferences[*]: not an object'
    END AS reason
FROM (
    SELECT
        line_offset,
        line,
        CASE WHEN octet_length(line) <= $max_line_bytes THEN try(decode(line)) END AS text
    FROM raw_lines
);
