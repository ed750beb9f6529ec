-- other_rows: from a batch's webhook bodies, every click (user_actions[]), stop/resume
-- (user_preferences[]) and account update, one row per change of a kind not landed
-- (`ignored`), and one row per line, entry or change that breaks a structure rule.
-- output_table names where a row lands; problem is NULL when it lands.
CREATE OR REPLACE TEMP TABLE other_rows (
    file_id INTEGER NOT NULL,
    line_offset BIGINT,
    i INTEGER,
    j INTEGER,
    k INTEGER,
    received_at TIMESTAMPTZ,
    output_table VARCHAR,
    ignored BOOLEAN,
    field VARCHAR,
    waba_id VARCHAR,
    phone_number_id VARCHAR,
    ts TIMESTAMPTZ,
    dt DATE,
    action_type VARCHAR,
    click_id VARCHAR,
    click_component VARCHAR,
    product_id VARCHAR,
    tracking_token VARCHAR,
    client_user_agent VARCHAR,
    wa_id VARCHAR,
    preference_value VARCHAR,
    preference_category VARCHAR,
    event VARCHAR,
    waba_info VARCHAR,
    message_template_id VARCHAR,
    message_template_name VARCHAR,
    message_template_language VARCHAR,
    previous_category VARCHAR,
    new_category VARCHAR,
    correct_category VARCHAR,
    problem VARCHAR
);
