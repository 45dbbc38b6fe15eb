-- Days whose consumption is abnormal for their building: Iglewicz and Hoaglin's robust
-- z-score, 0.6745 · (kWh − median) / MAD, against the same building's days of the same
-- calendar month and the same kind of day (weekday or weekend: schools and offices heat
-- less at weekends) over every year, flagged when |z| > 3.5. Groups of fewer than 8 days,
-- or whose days are nearly all equal (MAD 0), flag nothing. The analysis leaves these days
-- out by an anti-join on (building_id, reading_date).
WITH days AS (
    SELECT
        building_id,
        reading_date,
        consumption_kwh,
        CAST(date_part('month', reading_date) AS INT) AS month_of_year,
        CAST(date_part('dow', reading_date) AS INT) IN (0, 6) AS weekend
    FROM exploitation.daily_consumption
    WHERE consumption_kwh IS NOT NULL
),
centre AS (
    SELECT building_id, month_of_year, weekend,
           median(consumption_kwh) AS median_kwh, count(*) AS days
    FROM days
    GROUP BY building_id, month_of_year, weekend
),
spread AS (
    SELECT d.building_id, d.month_of_year, d.weekend,
           median(abs(d.consumption_kwh - c.median_kwh)) AS mad_kwh
    FROM days d
    JOIN centre c ON c.building_id = d.building_id AND c.month_of_year = d.month_of_year
        AND c.weekend = d.weekend
    GROUP BY d.building_id, d.month_of_year, d.weekend
)
SELECT
    d.building_id,
    d.reading_date,
    d.consumption_kwh,
    c.median_kwh,
    s.mad_kwh,
    0.6745 * (d.consumption_kwh - c.median_kwh) / s.mad_kwh AS robust_z
FROM days d
JOIN centre c ON c.building_id = d.building_id AND c.month_of_year = d.month_of_year
    AND c.weekend = d.weekend
JOIN spread s ON s.building_id = d.building_id AND s.month_of_year = d.month_of_year
    AND s.weekend = d.weekend
WHERE c.days >= 8
  AND s.mad_kwh > 0
  AND abs(0.6745 * (d.consumption_kwh - c.median_kwh) / s.mad_kwh) > 3.5
