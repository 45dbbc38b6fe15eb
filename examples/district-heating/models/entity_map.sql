-- Which building of the device registry each CRM customer is. The CRM's own reference
-- (`internal_ref`) is taken when it names a registry building; otherwise candidates share
-- the postal code and are scored by the similarity of their normalised addresses (street
-- prefix, apartment number, case, diacritics and punctuation removed) and building names
-- (Levenshtein distance over the longer length). A candidate is `matched` when it scores at
-- least 0.6 and leads the runner-up by 0.1, `ambiguous` when it scores 0.6 without that
-- lead, and the customer is `unmatched` below.
WITH devices AS (
    SELECT
        building_id,
        postcode,
        regexp_replace(
            regexp_replace(
                translate(lower(street), 'ąćęłńóśźż', 'acelnoszz'),
                '^(ul\.|ulica|al\.|aleja|pl\.|plac)\s+', ''),
            '[^a-z0-9 ]', '', 'g') AS street_key,
        regexp_replace(translate(lower(building_name), 'ąćęłńóśźż', 'acelnoszz'),
            '[^a-z0-9 ]', '', 'g') AS name_key
    FROM formatted.devices
),
customers AS (
    SELECT
        customer_id,
        building_id AS internal_ref,
        postal_code,
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    translate(lower(address), 'ąćęłńóśźż', 'acelnoszz'),
                    '^(ul\.|ulica|al\.|aleja|pl\.|plac)\s+', ''),
                '/[0-9]+$', ''),
            '[^a-z0-9 ]', '', 'g') AS street_key,
        regexp_replace(translate(lower(building), 'ąćęłńóśźż', 'acelnoszz'),
            '[^a-z0-9 ]', '', 'g') AS name_key
    FROM formatted.customers
),
by_reference AS (
    SELECT c.customer_id, d.building_id, 1.0 AS score, 'internal_ref' AS rule
    FROM customers c JOIN devices d ON d.building_id = c.internal_ref
),
candidates AS (
    SELECT
        c.customer_id,
        d.building_id,
        0.7 * (1.0 - CAST(levenshtein(c.street_key, d.street_key) AS DOUBLE)
                   / greatest(length(c.street_key), length(d.street_key), 1))
      + 0.3 * (1.0 - CAST(levenshtein(c.name_key, d.name_key) AS DOUBLE)
                   / greatest(length(c.name_key), length(d.name_key), 1)) AS score,
        'postcode+similarity' AS rule
    FROM customers c
    JOIN devices d ON d.postcode = c.postal_code
    WHERE c.customer_id NOT IN (SELECT customer_id FROM by_reference)
),
ranked AS (
    SELECT *,
        row_number() OVER (PARTITION BY customer_id ORDER BY score DESC, building_id) AS rank,
        lead(score) OVER (PARTITION BY customer_id ORDER BY score DESC, building_id) AS runner_up
    FROM candidates
)
SELECT customer_id, building_id, score, rule, 'matched' AS decision FROM by_reference
UNION ALL
SELECT customer_id,
       building_id,
       score,
       rule,
       CASE WHEN score >= 0.6 AND score - coalesce(runner_up, 0.0) >= 0.1 THEN 'matched'
            WHEN score >= 0.6 THEN 'ambiguous'
            ELSE 'unmatched' END AS decision
FROM ranked
WHERE rank = 1
UNION ALL
SELECT c.customer_id, CAST(NULL AS VARCHAR) AS building_id, 0.0 AS score, 'no candidate' AS rule,
       'unmatched' AS decision
FROM customers c
WHERE c.customer_id NOT IN (SELECT customer_id FROM by_reference)
  AND c.customer_id NOT IN (SELECT customer_id FROM candidates)
