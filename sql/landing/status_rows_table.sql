-- status_rows: one row per statuses[] element of a batch's webhook bodies, typed and checked.
-- line_offset is the line's byte offset in its file, known on the careful path only;
-- i, j, k are the element's entry, change and status index; problem is NULL when it lands.
CREATE OR REPLACE TEMP TABLE status_rows (
    file_id INTEGER NOT NULL,
    line_offset BIGINT,
    i INTEGER,
    j INTEGER,
    k INTEGER,
    received_at TIMESTAMPTZ,
    waba_id VARCHAR,
    phone_number_id VARCHAR,
    wamid VARCHAR,
    status VARCHAR,
    ts TIMESTAMPTZ,
    dt DATE,
    recipient_id VARCHAR,
    pricing_billable BOOLEAN,
    pricing_model VARCHAR,
    pricing_category VARCHAR,
    pricing_type VARCHAR,
    error_code BIGINT,
    error_title VARCHAR,
    error_message VARCHAR,
    error_details VARCHAR,
    biz_opaque_callback_data VARCHAR,
    conversation_id VARCHAR,
    conversation_origin_type VARCHAR,
    conversation_expiration_ts TIMESTAMPTZ,
    problem VARCHAR
);
