-- Top copy stages of the sender by sampled kernel time, per mode and size (all repeats).
-- Parameters: none.
SELECT mode, size, stage,
       sum(samples) AS samples,
       sum(est_ns) / 1e6 AS est_ms,
       sum(samples) / sum(sum(samples)) OVER (PARTITION BY mode, size) AS share
FROM stages
WHERE role = 'server'
GROUP BY mode, size, stage
QUALIFY row_number() OVER (PARTITION BY mode, size ORDER BY sum(samples) DESC) <= 3
ORDER BY mode, size, samples DESC;
