-- status_sightings: every landed status webhook of the recipients whose send is `unknown`,
-- used to reconcile them: a status at or after the send proves the API accepted it.
-- Inputs (views made by the caller): statuses (landed events/statuses), unknown_recipients(recipient).
SELECT
    s.recipient_id AS recipient,
    s.wamid,
    epoch(s.ts) AS ts
FROM statuses AS s
WHERE s.recipient_id IN (SELECT recipient FROM unknown_recipients)
