-- Monthly totals per building, for reporting and the analysis sandbox.
SELECT
    building_id,
    CAST(date_trunc('month', CAST(reading_date AS TIMESTAMP)) AS DATE) AS month,
    COUNT(*) AS days_measured,
    SUM(consumption_kwh) AS consumption_kwh,
    SUM(hdd) AS hdd,
    AVG(temperature_mean_c) AS temperature_mean_c
FROM exploitation.daily_consumption
GROUP BY 1, 2
